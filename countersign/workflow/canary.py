"""Canaries: known-bad variants of real proposals, sent to test whether reviewers read what they approve.

When a real proposal goes to a first-tier human review, a keyed draw (``routing.canary_draw``)
says whether its reviewers also get a canary and which of the action type's definitions. The
canary is a copy of the case with the definition's parameters laid over the real ones, with its
own review id, the same reviewers, reason and deadline, and no task token: it is mailed and shown
exactly like any review, decided through the same desk and outbox, and never executed or
returned to a caller. Its records go to its own stream (``canaries/<date>/<review id>``) and carry
``canary``; the decision record adds ``caught`` (modified or rejected). The reviewer is told
right after deciding (``reveal``).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from countersign.adapters.deps import Deps
from countersign.evidence import audit
from countersign.review.reviews import Review
from countersign.rules.routing import canary_draw
from countersign.workflow.case import Case

PREFIX = "canaries/"
CAUGHT = ("modified", "rejected")


def caught(outcome: str) -> bool:
    return outcome in CAUGHT


def variant(case: Case, definition: dict[str, Any]) -> Case:
    """The canary of ``case``: the definition's parameters laid over the real ones, its own review
    id (derived from the execution, so a retried request step makes the same one) and stream."""
    review_id = case.execution.review_id(0, "canary")
    day = case.execution.started_at[:10].replace("-", "/")
    action = {**case.action, "parameters": {**case.action["parameters"], **definition["parameters"]}}
    return replace(case, proposal={**case.proposal, "action": action}, review_id=review_id,
                   execution=replace(case.execution, stream=f"{PREFIX}{day}/{review_id}"),
                   canary={"breaks": definition["breaks"], "source_execution": case.execution.arn})


def with_canary(review: Review, deps: Deps) -> list[Review]:
    """The reviews to mail for a real ``review``: itself and, when the draw says so, a canary
    (stored and recorded here), in the drawn order so that neither email is always the second."""
    case = review.case
    if review.mode != "review" or case.canary or case.review_id != case.execution.review_id(0):
        return [review]                            # first tier only; never a hold or a canary's canary
    drawn = canary_draw(deps.mac, case.execution.arn, case.execution.started_at, case.rules)
    if drawn is None:
        return [review]
    decoy_case = variant(case, case.rules.canaries[drawn["index"]])
    decoy = replace(review, review_id=decoy_case.review_id, case=decoy_case, task_token="")
    deps.reviews.create(decoy)
    audit.append(deps.audit, decoy_case.execution.audit_stream, "review_requested", decoy_case.record({
        "actor": "system:request", "reason": review.reason, "mode": review.mode, "tier": 1,
        "reviewers": list(review.reviewers), "deadline": review.deadline,
        "canary_draw": {"message": drawn["message"], "mac": drawn["mac"], "draw": drawn["draw"],
                        "rate": case.rules.canary_rate, "definition": drawn["index"],
                        "canary_first": drawn["canary_first"]},
    }), event_key=f"review_requested.{decoy.review_id}")
    return [decoy, review] if drawn["canary_first"] else [review, decoy]


def reveal(case: Case, outcome: str) -> tuple[str, str]:
    """(heading, message) for the page a reviewer sees right after deciding on a canary."""
    verdict = "you caught it" if caught(outcome) else "you missed it"
    return (f"This was a canary: {verdict}",
            f"This review was a test: a known-bad copy of a real proposal, sent to check that reviews are "
            f"read. It is never executed, and the real proposal is reviewed on its own. The rule it broke: "
            f"{case.canary['breaks'].rstrip('.')}. You {outcome} it, so {verdict}. Your decision is in the audit trail.")
