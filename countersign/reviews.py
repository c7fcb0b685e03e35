"""Pending reviews and the decisions reviewers make on them.

A review is PENDING until exactly one decision wins the conditional write to DECIDED (or the
workflow times out and marks it EXPIRED). The dispatcher claims it (DISPATCHING), calls the
workflow back, and marks it DISPATCHED. The store is
a port; ``countersign.aws.DynamoReviewStore`` is the DynamoDB adapter.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from .case import Case
from .links import Grant
from .proposal import InvalidProposal, check_parameters

PENDING, DECIDED, DISPATCHING, DISPATCHED, EXPIRED = "PENDING", "DECIDED", "DISPATCHING", "DISPATCHED", "EXPIRED"
CHOICES = {"approve": "approved", "modify": "modified", "reject": "rejected"}
MAX_RATIONALE = 4000
MAX_PARAMETERS_JSON = 64 * 1024


class DecisionRefused(Exception):
    """A decision that cannot be recorded; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Decision:
    outcome: str                   # approved | modified | rejected
    reviewer: str
    rationale: str
    final_action: dict[str, Any] | None
    diff: list[dict[str, Any]]
    decided_at: str
    votes: list[dict[str, Any]] = field(default_factory=list)   # every reviewer's say, for quorums

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Decision":
        return cls(**data)

    def vote(self) -> dict[str, Any]:
        return {"reviewer": self.reviewer, "decision": self.outcome, "rationale": self.rationale,
                "decided_at": self.decided_at}

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


class ReviewStore(Protocol):
    def create(self, review: Review) -> None: ...
    def get(self, review_id: str) -> Review | None: ...
    def decide(self, review_id: str, decision: Decision, now: int) -> None:
        """PENDING → DECIDED, atomically, only before the deadline; else raise DecisionRefused(409)."""
    def transition(self, review_id: str, from_status: str, to_status: str) -> bool: ...
    def claim_dispatch(self, review_id: str, now: int) -> str | None: ...
    def due_reminders(self, now: int) -> list[Review]: ...
    def claim_reminder(self, review_id: str) -> bool: ...
    def approve(self, review_id: str, vote: dict[str, Any], now: int) -> list[dict[str, Any]]:
        """Count one reviewer's approval atomically (never twice); return all approvals so far."""


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
    if choice != "reject" and grant.reviewer in proposers(review.case.proposal):
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
        params = _parse_parameters(form.get("parameters") or "")
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
    return Decision(CHOICES[choice], grant.reviewer, rationale, final_action, diff, decided_at)


def proposers(proposal: dict[str, Any]) -> set[str]:
    """Who proposed it, as reviewer ids: ``requested_by`` may be ``carol``, ``user:carol`` or
    ``reviewer:carol``. The proposer may withdraw (reject) but never approve their own proposal."""
    by = str(proposal.get("requested_by") or "")
    return {by, by.split(":", 1)[1]} if ":" in by else {by}


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
        from .links import LinkRefused

        raise LinkRefused("this link does not grant access to that review")
    return review
