"""The approval gate's workflow steps before a decision: prepare, request a review, remind.

Each function is what one Lambda does, minus the event parsing; ``Deps`` carries the adapters.
Routing is not here: the workflow's Choice state decides; these steps establish the facts it
routes on (``routing.facts``) and act on its choice.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from countersign.evidence import audit

from countersign.rules import canonical
from countersign.workflow.canary import with_canary
from countersign.workflow.announce import REVIEW_REQUESTED, announce
from countersign.workflow.case import Case, Execution
from countersign.adapters.deps import Deps
from countersign.evidence.identity import identities
from countersign.review import digest
from countersign.review.links import emailed_inbox, review_url, sign
from countersign.review.notify import review_email, subject
from countersign.rules.autonomy import AUTONOMY, effective
from countersign.rules.policy import checked_document
from countersign.rules.proposal import InvalidProposal, check
from countersign.review.reviews import PENDING, Review, resolve_proposers
from countersign.rules.routing import MODES, expected_route, facts, spot_check
from countersign.workflow.submission import submitters, unwrap
from countersign.workflow.verdicts import record_execution



def prepare(received: Any, execution: dict[str, str], deps: Deps) -> dict[str, Any]:
    """Validate the proposal (the execution input, or the authenticated submit path's envelope),
    attach its rules and routing facts. A refusal is audited and returned, not raised, so the
    workflow's Choice state ends the execution on it."""
    ex = Execution(execution["Id"], execution["Name"], execution["StartTime"])
    document = in_effect(deps)
    submitted_by = None
    try:
        proposal, submitted_by = unwrap(received)
        if submitted_by is None and deps.authenticated_only:
            raise InvalidProposal([{"path": "$", "message": "this gate takes proposals only through its "
                                    "authenticated submit path (POST /submissions, IAM-signed)"}])
        registry = deps.load_registry()
        rules = check(proposal, document, list(deps.reviewers), registry.expand)
        if rules.action_type == AUTONOMY and (not deps.calibrator or submitted_by != deps.calibrator):
            raise InvalidProposal([{"path": "$.action.type", "message": f"{AUTONOMY} is proposed only by this "
                                    "stack's calibrator; a threshold change cannot be submitted"}])
    except InvalidProposal as exc:
        audit.append(deps.audit, ex.audit_stream, "refused_request", {
            "execution": {"arn": ex.arn, "name": ex.name, "started_at": ex.started_at},
            "actor": "system:prepare", "reason": "invalid proposal", "errors": exc.errors,
            "submitted_by": submitted_by, "policy": {"version": document["version"]},
        })
        return {"refusal": {"reason": "invalid proposal", "errors": exc.errors}}
    sampled = spot_check(deps.mac, ex.arn, ex.started_at, rules.version)
    route_facts = {**facts(proposal, rules, sampled["draw"], deps.load_kill_switch()),
                   "submitted_by": submitted_by,   # the IAM principal, on the authenticated path only
                   "proposed_by": sorted(set(resolve_proposers(proposal.get("requested_by"), registry.directory))
                                         | set(submitters(submitted_by, registry.principals)))}
    involved = [r for tier in (rules.tiers or ({"reviewers": rules.reviewers},)) for r in tier["reviewers"]]
    names = identities(deps.reviewer_identity, deps.mac, [*involved, *route_facts["proposed_by"]], deps.pseudonyms)
    case = Case(proposal, rules, ex, ex.review_id(0), route="received", facts=route_facts, identities=names)
    route, reason = expected_route(case.confidence, rules, route_facts)
    event = "refused_request" if route == "halted" else "proposal_received"
    audit.append(deps.audit, ex.audit_stream, event, case.record({
        "actor": "system:prepare", "proposal": proposal, "input_sha256": canonical.sha256(proposal),
        "expected_route": route, "route_reason": reason, "spot_check": sampled}))
    return case.to_state()


def in_effect(deps: Deps) -> dict[str, Any]:
    """The policy that routes now: the deployed one (checked against its hash) with the calibrated
    adjustments beside it (``rules.autonomy``)."""
    deployed = checked_document(deps.load_policy())
    return effective(deployed, deps.autonomy.current()[1]) if deps.autonomy is not None else deployed


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
