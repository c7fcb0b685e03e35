"""The approval gate's workflow steps that ask humans: request a review, notify, remind.

Each function is what one Lambda does, minus the event parsing; ``Deps`` carries the adapters.
Routing is not here: the workflow's Choice state decides; Prepare (``workflow.intake``)
establishes the facts it routes on and these steps act on its choice.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from countersign.evidence import audit

from countersign.workflow.canary import with_canary
from countersign.workflow.announce import REVIEW_REQUESTED, announce
from countersign.workflow.case import Case
from countersign.adapters.deps import Deps
from countersign.review import digest
from countersign.review.links import emailed_inbox, review_url, sign
from countersign.review.notify import review_email, subject
from countersign.review.reviews import PENDING, Review
from countersign.rules.routing import MODES, expected_route
from countersign.workflow.verdicts import record_execution



class RequestNotDelivered(RuntimeError):
    """An AWS call of a request step failed past the SDK's retries. The workflow retries the step on
    this error's name (five times, 2 s doubling to 32 s): a retry derives the same review, takes the
    new attempt's task token and mails each reviewer once (a reviewer mailed before the failure may
    get the same link again). Any other failure of the step fails the execution closed."""


def request_review(state: dict[str, Any], task_token: str, route: str, entered_at: str, deps: Deps) -> dict[str, Any]:
    """Store the pending review (the token stays in DynamoDB), mail each reviewer their own link.
    ``route`` is the Choice state's: a human review, or a veto window (HOTL).

    The deadline counts from ``entered_at``, when the workflow entered the gate (its timer starts
    then or later), so the stored deadline never outlives the workflow's timer."""
    case = Case.from_state({**state, "route": route})
    if case.executed:   # staged, or executed first: on the record before anyone is asked
        record_execution(case, case.executed, deps)
    tier = case.current_tier
    now = int(deps.clock())
    deadline = int(datetime.fromisoformat(entered_at.replace("Z", "+00:00")).timestamp()) + case.window(route)
    lead = case.rules.reminder_before_seconds
    _, reason = expected_route(case.confidence, case.rules, case.facts)
    if tier["index"]:
        reason = f"escalated to tier {tier['index'] + 1}: nobody in the previous tier decided in time ({reason})"
    review = Review(case.review_id, PENDING, case, tuple(tier["reviewers"]), deadline, reason, task_token,
                    mode=MODES[route], remind_at=deadline - lead if lead and deadline - lead > now else None)
    deps.reviews.create(review)
    held = False
    for each in with_canary(review, deps):        # and a canary, when the draw sends one
        held = digest.held(each, deps)           # digest mode: not urgent, so it waits for the reviewers' digests
        if not held:
            notify_reviewers(each, deps)
    record = audit.append(deps.audit, case.execution.audit_stream, "review_requested", case.record({
        "actor": "system:request", "reason": reason, "mode": review.mode,
        "tier": tier["index"] + 1, "reviewers": list(review.reviewers), "deadline": deadline,
        "notify": "digest" if held else "email",
    }), event_key=f"review_requested.{case.review_id}")
    announce(deps.events, REVIEW_REQUESTED, record)
    return {"review_id": case.review_id, "notified": list(review.reviewers), "audit_seq": record["seq"]}


def notify_reviewers(review: Review, deps: Deps, reminder: bool = False) -> None:
    """One message per reviewer, each with their own signed link (valid until the deadline); sent
    once per review and kind, however often a retried step asks."""
    kind = "reminder" if reminder else "request"
    deps.once(f"review-emails/{review.review_id}/{review.deadline}/{kind}", lambda: _send(review, deps, reminder))


def _send(review: Review, deps: Deps, reminder: bool) -> None:
    case = review.case
    for reviewer in review.reviewers:
        token = sign(deps.mac, review.review_id, reviewer, review.deadline)
        url = review_url(deps.review_base_url, review.review_id, token)
        inbox, _ = emailed_inbox(deps.mac, deps.review_base_url, reviewer, deps.clock())
        body = review_email(case, review.reason, url, review.deadline, review.mode, inbox)
        deps.notifier.send(reviewer, ("Reminder: " if reminder else "") + subject(case, review.mode),
                           ("Reminder: the deadline is close.\n\n" if reminder else "") + body)


def send_reminders(deps: Deps) -> int:
    """Remind the reviewers of every pending review whose reminder time has come (each once)."""
    sent = 0
    for review in deps.reviews.due_reminders(int(deps.clock())):
        if not deps.reviews.claim_reminder(review.review_id):
            continue                                   # decided meanwhile, or another sweep took it
        notify_reviewers(review, deps, reminder=True)
        audit.append(deps.audit, review.case.execution.audit_stream, "reminder_sent", review.case.record({
            "actor": "system:reminders", "reviewers": list(review.reviewers),
            "deadline": review.deadline}), event_key=f"reminder_sent.{review.review_id}")
        sent += 1
    return sent
