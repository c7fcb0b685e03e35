"""Pending reviews and the decisions reviewers make on them.

The review item is the one arbiter of a review's fate. It is PENDING until exactly one
conditional write moves it on: to DECIDED (a reviewer's decision, or the approval that completes
a quorum, counted and decided in the same write) or to EXPIRED (the workflow's timer, only while
nothing was decided). Whatever reads the review afterwards (the dispatcher, a timeout branch,
the reconciler) follows what that write stored. The dispatcher claims a decision
(DISPATCHING), calls the workflow back, and marks it DISPATCHED with ``delivered_at``.
The store is a port; ``countersign.adapters.aws.DynamoReviewStore`` is the DynamoDB adapter.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Protocol

from countersign.workflow.case import Case
from countersign.review.links import Grant

PENDING, DECIDED, DISPATCHING, DISPATCHED, EXPIRED = "PENDING", "DECIDED", "DISPATCHING", "DISPATCHED", "EXPIRED"
SETTLED = (DECIDED, DISPATCHING, DISPATCHED)     # a decision won the write: it is the decision
CHOICES = {"approve": "approved", "modify": "modified", "reject": "rejected"}
MAX_RATIONALE = 4000
MAX_PARAMETERS_JSON = 64 * 1024
WRITE_ATTEMPTS = 8    # optimistic retries when votes race on one review


class DecisionRefused(Exception):
    """A decision that cannot be recorded; ``status`` is the HTTP status to answer with.
    ``late`` marks a click that lost the write because the review's window had closed."""

    def __init__(self, status: int, message: str, late: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.late = late


@dataclass(frozen=True)
class Decision:
    outcome: str                   # approved | modified | rejected
    reviewer: str
    rationale: str
    final_action: dict[str, Any] | None
    diff: list[dict[str, Any]]
    decided_at: str
    votes: list[dict[str, Any]] = field(default_factory=list)   # every reviewer's say, for quorums
    rendered_at: str | None = None      # when the deciding page was rendered (signed form field), if it said
    dwell_seconds: float | None = None  # decision time − rendered_at
    reason: str | None = None           # the override reason category (modify, reject); None to approve

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Decision":
        return cls(**data)

    def vote(self) -> dict[str, Any]:
        return {"reviewer": self.reviewer, "decision": self.outcome, "rationale": self.rationale,
                "decided_at": self.decided_at, "rendered_at": self.rendered_at, "dwell_seconds": self.dwell_seconds}

    def all_votes(self) -> list[dict[str, Any]]:
        return self.votes or [self.vote()]


@dataclass(frozen=True)
class Review:
    review_id: str
    status: str
    case: Case
    reviewers: tuple[str, ...]
    deadline: int                  # epoch seconds
    reason: str
    task_token: str
    decision: Decision | None = None
    mode: str = "review"           # review: a human decides; veto: it proceeds at the deadline unless vetoed
    votes: tuple[dict[str, Any], ...] = ()   # approvals so far, when a quorum is needed
    remind_at: int | None = None             # when the reminder sweep should remind the reviewers
    version: int = 0                         # bumped by every vote: votes race by optimistic concurrency
    claimed_at: int | None = None            # when a dispatcher claimed the decision
    delivered_at: int | None = None          # when the workflow accepted the callback (recorded, never inferred)


@dataclass(frozen=True)
class Recorded:
    """What a reviewer's POST achieved: ``decided`` (the review is decided, by this write or by an
    earlier identical one), or ``counted`` (an approval towards a quorum)."""

    status: str
    decision: Decision
    approvals: int = 0
    repeated: bool = False      # this reviewer's say was already stored (a retried POST)


class ReviewStore(Protocol):
    def create(self, review: Review) -> None: ...
    def get(self, review_id: str) -> Review | None: ...
    def write_vote(self, review: Review, votes: list[dict[str, Any]], decision: Decision | None, now: int) -> bool:
        """One conditional write: store ``votes`` (and, with ``decision``, move PENDING → DECIDED) only
        if the review is still PENDING at ``review.version`` and before its deadline. False if not."""
    def expire(self, review_id: str) -> Review | None:
        """PENDING → EXPIRED if nothing was decided; return the review as it now stands."""
    def claim_dispatch(self, review_id: str, now: int, stale_after: int) -> Review | str: ...
    def release_claim(self, review_id: str, claimed_at: int) -> None: ...
    def mark_dispatched(self, review_id: str, delivered_at: int | None, now: int) -> None: ...
    def close_entries(self, review: Review) -> None: ...
    def track_records(self) -> dict[str, Any] | None: ...
    def put_track_records(self, document: dict[str, Any]) -> None: ...
    def undispatched(self) -> list[str]: ...
    def due_reminders(self, now: int) -> list[Review]: ...
    def decided_of_type(self, action_type: str, limit: int) -> list[dict[str, Any]]:
        """The latest decisions on an action type, newest first: {review_id, decision, risk, confidence,
        decided_epoch}."""
    def claim_reminder(self, review_id: str) -> bool: ...


def record(store: ReviewStore, review: Review | None, decision: Decision, now: int) -> Recorded:
    """Record one reviewer's decision with one conditional write, racing votes retried (the
    review as just read is the first attempt's; a lost race reads it again).

    Any rejection decides; an approval decides once the quorum is met, in the same write that
    counts it, so a quorum can never be met without a decision. A retry of a decision or vote that
    is already stored is answered as recorded (idempotent). A click that lost the write is refused:
    as ``late`` when the window had closed, else because another decision stands."""
    for attempt in range(WRITE_ATTEMPTS):
        if attempt:
            review = store.get(review.review_id)
        if review is None:
            raise DecisionRefused(404, "this review no longer exists")
        mine = [v for v in (review.decision.all_votes() if review.decision else review.votes)
                if v["reviewer"] == decision.reviewer]
        if review.status in SETTLED:
            if mine and mine[-1]["decision"] == decision.outcome:
                return Recorded("decided", review.decision, len(review.votes), repeated=True)
            raise DecisionRefused(409, "another decision on this review was recorded first, and it stands: "
                                       "yours was not recorded")
        if review.status == EXPIRED or review.deadline <= now:
            raise DecisionRefused(409, f"the review window closed at {_when(review.deadline)}, before your "
                                       "decision arrived: it was not recorded", late=True)
        needed = review.case.rules.quorum
        approving = decision.outcome != "rejected" and needed > 1
        if approving and mine:                      # a retried approval: counted once, never twice
            if len(review.votes) < needed:
                return Recorded("counted", decision, len(review.votes), repeated=True)
            votes = list(review.votes)              # met but undecided (an older item): decide now
        else:
            votes = [*review.votes, decision.vote()]
        decides = not approving or len(votes) >= needed
        final = replace(decision, votes=votes) if decides else None
        if store.write_vote(review, votes, final, now):
            return Recorded("decided", final, len(votes)) if final else Recorded("counted", decision, len(votes))
    raise DecisionRefused(503, "too many reviewers are deciding this review at once; try again")


def _when(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def parse_decision(form: dict[str, str], grant: Grant, review: Review, decided_at: str) -> Decision:
    """Turn a submitted form into a Decision, or refuse it with 400 and a clear message."""
    choice = (form.get("decision") or "").strip()
    if choice not in CHOICES:
        raise DecisionRefused(400, "choose approve, modify or reject")
    if review.mode != "review" and choice == "modify":
        raise DecisionRefused(400, {"veto": "in a veto window you can let the action proceed or veto it",
                                    "signoff": "a staged result can be promoted or discarded",
                                    "reverse": "an executed action can be kept or reversed"}[review.mode]
                              + ", not modified")
    if choice != "reject" and grant.reviewer in proposers(review.case):
        raise DecisionRefused(403, "you proposed this action, so you cannot approve it; another reviewer must")
    if choice == "modify" and review.case.rules.quorum > 1:
        raise DecisionRefused(400, f"this action needs {review.case.rules.quorum} approvals of the same action, "
                                   "so it cannot be modified here; reject it with a rationale instead")
    rationale = (form.get("rationale") or "").strip()
    if len(rationale) > MAX_RATIONALE:
        raise DecisionRefused(400, f"the rationale is limited to {MAX_RATIONALE} characters")
    if choice in ("modify", "reject") and not rationale:
        raise DecisionRefused(400, f"a rationale is required to {choice}")
    action = review.case.action
    final_action: dict[str, Any] | None = action
    diff: list[dict[str, Any]] = []
    if choice == "modify":
        from countersign.rules.proposal import InvalidProposal, check_parameters   # the review desk's alone

        params = _modified_parameters(form, review)
        try:
            check_parameters(params, review.case.rules)
        except InvalidProposal as exc:
            raise DecisionRefused(400, f"the modified parameters break the action's schema: {exc}") from None
        diff = diff_values(action["parameters"], params, "$.parameters")
        if not diff:
            raise DecisionRefused(400, "modify needs at least one changed parameter; use approve instead")
        final_action = {**action, "parameters": params}
    elif choice == "reject":
        final_action = None
    reason = _reason(form, choice, review) if choice in ("modify", "reject") else None
    return Decision(CHOICES[choice], grant.reviewer, rationale, final_action, diff, decided_at, reason=reason)


def _reason(form: dict[str, str], choice: str, review: Review) -> str:
    """The reason category of a modify or reject: one the action type's policy offers."""
    offered = review.case.rules.override_reasons
    reason = (form.get("reason") or "").strip()
    if reason not in offered:
        raise DecisionRefused(400, f"choose a reason to {choice} from the list: " + ", ".join(map(label, offered)))
    return reason


def label(reason: str) -> str:
    """A reason category in words: ``wrong_parameters`` → ``wrong parameters``."""
    return reason.replace("_", " ")


def resolve_proposers(requested_by: Any, directory: dict[str, str]) -> list[str]:
    """Which registered reviewers ``requested_by`` names, however it is written: case and spaces
    do not matter, prefixes such as ``user:`` or ``user:reviewer:`` are dropped, and an email is
    mapped to its reviewer (``directory``: reviewer id → email). Resolved once, by Prepare."""
    by = str(requested_by or "").strip().casefold()
    by_email = {email.casefold(): rid for rid, email in directory.items()}
    found = set()
    for candidate in {by, by.rsplit(":", 1)[-1].strip()}:
        rid = by_email.get(candidate) or next((r for r in directory if r.casefold() == candidate), None)
        if rid:
            found.add(rid)
    return sorted(found)


def proposers(case: Case) -> set[str]:
    """The reviewers who proposed it: they may withdraw (reject) but never approve it."""
    return set(case.facts.get("proposed_by", []))


def _modified_parameters(form: dict[str, str], review: Review) -> dict[str, Any]:
    """From the generated form's typed fields (``p.<name>``), or from raw JSON (``parameters``:
    the fallback textarea, and the confirm step, which carries exactly what it showed)."""
    from countersign.review import schema_form      # the review desk's alone: other steps need not load it

    if "parameters" not in form and any(k.startswith(schema_form.PREFIX) for k in form):
        try:
            return schema_form.parse(review.case.rules.parameters, form, review.case.action["parameters"])
        except ValueError as exc:
            raise DecisionRefused(400, f"the modified parameters are not valid: {exc}") from None
    return _parse_parameters(form.get("parameters") or "")


def _parse_parameters(text: str) -> dict[str, Any]:
    if len(text) > MAX_PARAMETERS_JSON:
        raise DecisionRefused(400, "the modified parameters are too large")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DecisionRefused(400, f"the modified parameters are not valid JSON: {exc.msg} "
                                   f"(line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(value, dict):
        raise DecisionRefused(400, "the modified parameters must be a JSON object")
    return value


_ABSENT = object()


def diff_values(before: Any, after: Any, path: str = "$") -> list[dict[str, Any]]:
    """Every changed leaf between two JSON values, as ``{path, before, after}``; a key that is
    missing on one side shows as ``None`` there, and ``1`` differs from ``true``."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[dict[str, Any]] = []
        for key in sorted(set(before) | set(after)):
            out += diff_values(before.get(key, _ABSENT), after.get(key, _ABSENT), f"{path}.{key}")
        return out
    if before == after and type(before) is type(after):
        return []
    show = lambda v: None if v is _ABSENT else v  # noqa: E731
    return [{"path": path, "before": show(before), "after": show(after)}]


def authorise(review: Review | None, grant: Grant) -> Review:
    """The link is genuine; is this reviewer assigned to this review?"""
    if review is None or grant.reviewer not in review.reviewers:
        from countersign.review.links import LinkRefused

        raise LinkRefused("this link does not grant access to that review")
    return review


def inbox_key(review: Review) -> str:
    """Where a review sits in its reviewers' inboxes and digests: deadline, then the higher risk
    first, then its id. The by-reviewer index's sort key, and the inbox's page cursor."""
    from countersign.rules.policy import RISKS

    rank = len(RISKS) - 1 - RISKS.index(review.case.facts.get("risk", "medium"))
    return f"{review.deadline:012d}#{rank}#{review.review_id}"
