"""The reviewer's desk: show a case (no side effect) and record a decision (one conditional write).

Every refusal answers with a clear page and the right status, and is written to the audit trail
under its own stream. Neither the link token nor the task token is ever logged or audited.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone

from . import audit
from .deps import Deps
from .links import LinkRefused, review_url, valid_review_id, verify
from .pages import message_page, review_page
from .reviews import DecisionRefused, authorise, parse_decision


@dataclass(frozen=True)
class Reply:
    status: int
    html: str


@dataclass(frozen=True)
class Request:
    """Who asked, for the audit record of a refusal."""

    request_id: str
    source_ip: str = ""
    user_agent: str = ""


def show(review_id: str, token: str | None, deps: Deps, action_url: str, request: Request) -> Reply:
    """Render the case. Nothing about the review changes; a refused link is audited."""
    try:
        grant = verify(deps.mac, review_id, token, deps.clock())
        review = authorise(deps.reviews.get(review_id), grant)
    except LinkRefused as exc:
        _refuse(deps, request, 403, str(exc), {"review_id": review_id if valid_review_id(review_id) else None,
                                               "method": "GET"})
        return Reply(403, message_page(403, "This link does not open a review", str(exc)))
    return Reply(200, review_page(review, grant.reviewer, token, action_url))


def decide(review_id: str, form: dict[str, str], deps: Deps, request: Request) -> Reply:
    token = form.get("t")
    claimed = {"review_id": review_id if valid_review_id(review_id) else None, "method": "POST",
               "decision": (form.get("decision") or "")[:16]}
    try:
        grant = verify(deps.mac, review_id, token, deps.clock())
        review = authorise(deps.reviews.get(review_id), grant)
    except LinkRefused as exc:
        _refuse(deps, request, 403, str(exc), claimed)
        return Reply(403, message_page(403, "Decision refused", str(exc)))
    back = review_url(deps.review_base_url, review_id, token)
    decided_at = datetime.fromtimestamp(deps.clock(), timezone.utc).isoformat(timespec="seconds")
    try:
        decision = parse_decision(form, grant, review, decided_at.replace("+00:00", "Z"))
        needed = review.case.rules.quorum
        if decision.outcome == "approved" and needed > 1:
            votes = deps.reviews.approve(review_id, decision.vote(), int(deps.clock()))
            audit.append(deps.audit, review.case.execution.audit_stream, "vote_recorded", {
                **review.case.audit_fields(), "actor": f"reviewer:{grant.reviewer}", **decision.vote(),
                "approvals": len(votes), "quorum": needed}, event_key=f"vote_recorded.{grant.reviewer}")
            if len(votes) < needed:
                return Reply(200, message_page(200, "Approval recorded", f"Your approval is recorded: {len(votes)} "
                                               f"of {needed} approvals. The action waits for the others.", back))
            decision = replace(decision, votes=votes)
        else:
            decision = replace(decision, votes=[*review.votes, decision.vote()])
        deps.reviews.decide(review_id, decision, int(deps.clock()))
    except DecisionRefused as exc:
        _refuse(deps, request, exc.status, exc.message, {**claimed, "reviewer": grant.reviewer,
                                                         "policy_version": review.case.rules.version})
        return Reply(exc.status, message_page(exc.status, "Decision not recorded", exc.message, back))
    return Reply(200, message_page(200, "Decision recorded",
                                   f"You {decision.outcome} this action. The workflow resumes now; "
                                   "your decision and rationale are in the audit trail.", back))


def _refuse(deps: Deps, request: Request, status: int, reason: str, claimed: dict) -> None:
    audit.append(deps.audit, audit.refusal_stream(request.request_id), "refused_request", {
        "actor": f"reviewer:{claimed['reviewer']}" if claimed.get("reviewer") else "anonymous",
        "status": status, "reason": reason, "request": claimed,
        "source_ip": request.source_ip, "user_agent": request.user_agent[:256],
    })
