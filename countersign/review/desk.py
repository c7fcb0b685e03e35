"""The reviewer's desk: show a case (no side effect) and record a decision (one conditional write).

Every refusal answers with a clear page and the right status, and is written to the audit trail
under its own stream. Neither the link token nor the task token is ever logged or audited.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from urllib.parse import urlsplit

from countersign.evidence import audit
from countersign.adapters.deps import Deps
from countersign.evidence.identity import masked
from countersign.review import precedents
from countersign.review.links import (LinkRefused, StampRefused, claimed_reviewer, review_url, seal_shown,
                                      shown_matches, sign_rendered, valid_review_id, verify, verify_rendered)
from countersign.review.pages import confirm_page, message_page, review_page
from countersign.review.registry import INACTIVE, OUTSIDE
from countersign.review.reviews import DecisionRefused, authorise, parse_decision, record
from countersign.workflow.canary import reveal


@dataclass(frozen=True)
class Reply:
    status: int
    html: str


FORM_TYPE = "application/x-www-form-urlencoded"
_AT_ONCE = ThreadPoolExecutor(max_workers=8, thread_name_prefix="desk")
MAX_FORM_BYTES = 128 * 1024


@dataclass(frozen=True)
class Request:
    """Who asked (for the audit record of a refusal), and how a POST arrived."""

    request_id: str
    source_ip: str = ""
    user_agent: str = ""
    host: str = ""               # the Host this request was sent to (the review page's own host)
    origin: str | None = None    # the browser's Origin header, when sent
    fetch_site: str = ""         # the browser's Sec-Fetch-Site header, when sent
    content_type: str = ""
    body_bytes: int = 0
    repeated: tuple[str, ...] = ()   # form fields sent more than once


def unfit(request: Request, base_url: str = "") -> tuple[int, str] | None:
    """Why a POST is refused before its token is even read, or None. A browser says where a form
    was sent from: ``Sec-Fetch-Site`` must be ``same-origin`` (or ``none``), and an ``Origin`` must
    be the review page's host (as the request reached the API, or ``base_url``'s when a proxy in
    front rewrites ``Host``). The page's own form sends ``Origin: null`` (its referrer policy is
    ``no-referrer``), which only ``Sec-Fetch-Site`` can tell from an opaque origin: without it, a
    ``null`` origin is refused. A client that sends neither header is no browser: it holds the
    token itself and gains nothing from a victim's."""
    own = {request.host.lower(), urlsplit(base_url).netloc.lower()} - {""}
    origin = request.origin
    foreign = origin not in (None, "null") and urlsplit(origin).netloc.lower() not in own
    if request.fetch_site not in ("", "same-origin", "none") or foreign or (origin == "null" and not request.fetch_site):
        return 403, ("this decision was sent from another site, so it was not recorded: open the link in "
                     "your email and decide on the review page itself")
    if request.content_type.split(";")[0].strip().lower() != FORM_TYPE:
        return 415, f"a decision is a form sent as {FORM_TYPE}"
    if request.body_bytes > MAX_FORM_BYTES:
        return 413, f"the form is larger than {MAX_FORM_BYTES // 1024} KiB"
    if request.repeated:
        return 400, f"the form sends {', '.join(request.repeated)} more than once"
    return None


def show(review_id: str, token: str | None, deps: Deps, action_url: str, request: Request) -> Reply:
    """Render the case, with a signed stamp of when it was rendered in its form, and the earlier
    decisions on its action type that this reviewer may see. Nothing about the review changes; a
    refused link (or a deactivated reviewer's) is audited."""
    claimed = {"review_id": review_id if valid_review_id(review_id) else None, "method": "GET"}
    opened, grant = _open(deps, review_id, token), None
    try:
        grant = opened.grant.result()
        review = authorise(opened.review.result(), grant)
    except LinkRefused as exc:
        _refuse(deps, request, 403, str(exc), {**claimed, **_unassigned(grant)})
        return Reply(403, message_page(403, "This link does not open a review", str(exc)))
    registry = opened.registry.result()
    refusal = _authority(registry, review, grant.reviewer)
    if refusal and refusal.kind == INACTIVE:     # a deactivated reviewer's links open nothing
        _refuse(deps, request, 403, refusal.message, {**claimed, "reviewer": grant.reviewer, "refusal": INACTIVE},
                review.case.identities)
        return Reply(403, message_page(403, "This link does not open a review", refusal.message))
    stamp = _AT_ONCE.submit(sign_rendered, deps.mac, review_id, grant.reviewer, int(deps.clock() * 1000))
    track = _AT_ONCE.submit(deps.reviews.track_records)
    latest = _AT_ONCE.submit(deps.reviews.decided_of_type, review.case.action["type"], precedents.LOOKBACK)
    shown, record = precedents.earlier(latest.result(), review, grant.reviewer, registry, deps.clock(),
                                       track.result())
    rendered = stamp.result()
    return Reply(200, review_page(review, grant.reviewer, token, action_url, rendered, deps.evidence_hosts,
                                  refusal=refusal.message if refusal else None, precedents=shown, track=record))


def decide(review_id: str, form: dict[str, str], deps: Deps, request: Request) -> Reply:
    token = form.get("t")
    claimed = {"review_id": review_id if valid_review_id(review_id) else None, "method": "POST",
               "decision": (form.get("decision") or "")[:16]}
    refused = unfit(request, deps.review_base_url)
    if refused:
        sent_from = {k: v[:limit] for k, v, limit in (("origin", request.origin, 256),
                                                      ("fetch_site", request.fetch_site, 32)) if v}
        _refuse(deps, request, *refused, {**claimed, **sent_from})
        return Reply(refused[0], message_page(refused[0], "Decision not recorded", refused[1]))
    opened, grant = _open(deps, review_id, token, form.get("rendered")), None
    try:
        grant = opened.grant.result()
        review = authorise(opened.review.result(), grant)
    except LinkRefused as exc:
        _refuse(deps, request, 403, str(exc), {**claimed, **_unassigned(grant)})
        return Reply(403, message_page(403, "Decision refused", str(exc)))
    refusal = _authority(opened.registry.result(), review, grant.reviewer)
    if refusal:      # inactive, above their authority, or outside their assignment: nothing is recorded
        _refuse(deps, request, 403, refusal.message, {**claimed, "reviewer": grant.reviewer, "refusal": refusal.kind,
                                                     "policy_version": review.case.rules.version},
                review.case.identities)
        return Reply(403, message_page(403, "Decision refused", f"Your decision was not recorded: {refusal.message}."))
    back = review_url(deps.review_base_url, review_id, token)
    now = deps.clock()
    decided_at = datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds")
    decision = None
    try:
        rendered_at, dwell = _rendered(opened.stamp.result(), now)
        decision = replace(parse_decision(form, grant, review, decided_at.replace("+00:00", "Z")),
                           rendered_at=rendered_at, dwell_seconds=dwell)
        if decision.outcome == "modified" and not form.get("shown"):    # the confirm step: nothing recorded yet
            seal = seal_shown(deps.mac, review_id, grant.reviewer, _shown(decision))
            return Reply(200, confirm_page(review, grant.reviewer, decision, form, seal, back))
        if decision.outcome == "modified" and not shown_matches(deps.mac, review_id, grant.reviewer, _shown(decision),
                                                                form["shown"]):
            raise DecisionRefused(400, "the changes sent are not the ones your confirm page showed; open the "
                                       "review again")
        done = record(deps.reviews, review, decision, int(deps.clock()))
    except DecisionRefused as exc:
        if exc.late:     # a click that lost the write to the window's close: on the execution's record
            _late(deps, request, review, grant.reviewer, claimed["decision"], exc.message, decision)
        else:
            _refuse(deps, request, exc.status, exc.message, {**claimed, "reviewer": grant.reviewer,
                                                             "policy_version": review.case.rules.version},
                    review.case.identities)
        return Reply(exc.status, message_page(exc.status, "Decision not recorded", exc.message, back))
    needed = review.case.rules.quorum      # a vote's audit record is the dispatcher's (the stream)
    if review.case.canary:           # scored and revealed at once: what it broke, caught or missed
        return Reply(200, message_page(200, *reveal(review.case, decision.outcome)))
    again = "It was already recorded; one reviewer never counts twice. " if done.repeated else ""
    if done.status == "counted":
        return Reply(200, message_page(200, "Approval recorded", f"{again}Your approval is recorded: {done.approvals} "
                                       f"of {needed} approvals. The action waits for the others.", back))
    return Reply(200, message_page(200, "Decision recorded", f"{again}You {decision.outcome} this action. The "
                                   "workflow resumes now; your decision and rationale are in the audit trail.", back))


def _authority(registry, review, reviewer: str):
    """The registry's refusal of this reviewer for this case (its action type, its effective risk)."""
    return registry.refusal(reviewer, review.case.action["type"], review.case.facts.get("risk", "medium"))


def _shown(decision) -> dict:
    """What a confirm page shows, and its seal covers: the changes and the rationale."""
    return {"diff": decision.diff, "rationale": decision.rationale}


def _unassigned(grant) -> dict[str, str]:
    """A genuine link for a review its reviewer is not assigned to names them in the refusal."""
    return {"reviewer": grant.reviewer, "refusal": OUTSIDE} if grant else {}


@dataclass(frozen=True)
class _Opened:
    """The calls that open a request, started together: the link's MAC (``grant``), the review
    item, the registry and, for a POST, the rendering stamp's MAC. They do not depend on each
    other, so a request waits one round trip for all of them, not one per call; each result (or
    its refusal) is taken where the flow needs it, so the order of refusals is unchanged."""

    grant: Future
    review: Future
    registry: Future
    stamp: Future


def _open(deps: Deps, review_id: str, token: str | None, stamp: str | None = None) -> _Opened:
    now, reviewer = deps.clock(), claimed_reviewer(token)
    def rendered() -> int | None:     # a stamp for the token's reviewer: it only counts once the token does
        if not stamp:
            return None
        try:
            return verify_rendered(deps.mac, review_id, reviewer or "", stamp)
        except StampRefused as exc:
            raise DecisionRefused(400, str(exc)) from None
    return _Opened(_AT_ONCE.submit(verify, deps.mac, review_id, token, now),
                   _AT_ONCE.submit(lambda: deps.reviews.get(review_id) if valid_review_id(review_id) else None),
                   _AT_ONCE.submit(deps.load_registry),
                   _AT_ONCE.submit(rendered) if stamp else _done(None))


def _done(value) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


def _rendered(rendered_ms: int | None, now: float) -> tuple[str | None, float | None]:
    """(rendered_at, dwell_seconds) from the form's verified stamp; (None, None) for a page
    rendered before pages carried one."""
    if rendered_ms is None:
        return None, None
    rendered_at = datetime.fromtimestamp(rendered_ms / 1000, timezone.utc).isoformat(timespec="milliseconds")
    return rendered_at.replace("+00:00", "Z"), round(now - rendered_ms / 1000, 3)


def _late(deps: Deps, request: Request, review, reviewer: str, choice: str, reason: str, decision) -> None:
    audit.append(deps.audit, review.case.execution.audit_stream, "late_decision", review.case.record({
        "actor": f"reviewer:{reviewer}", "reviewer": reviewer, "decision": choice,
        "rendered_at": decision.rendered_at, "dwell_seconds": decision.dwell_seconds,
        "status": 409, "note": reason, "source_ip": request.source_ip, "user_agent": request.user_agent[:256],
    }), event_key=f"late_decision.{review.review_id}.{review.case.named(reviewer)}.{request.request_id}")


def _refuse(deps: Deps, request: Request, status: int, reason: str, claimed: dict,
            names: dict[str, str] | None = None) -> None:
    audit.append(deps.audit, audit.refusal_stream(request.request_id), "refused_request", masked({
        "actor": f"reviewer:{claimed['reviewer']}" if claimed.get("reviewer") else "anonymous",
        "status": status, "reason": reason, "request": claimed,
        "source_ip": request.source_ip, "user_agent": request.user_agent[:256],
    }, names or {}))
