"""The decision outbox: every decision that won its review's write reaches the workflow once.

The dispatcher (fed by the review table's stream) and the reconciler (on a schedule, and
``countersign redrive``) run the same ``dispatch``: claim the decision (DECIDED → DISPATCHING,
or take over a claim older than ``stale_after``), audit it, call the workflow back unless
``delivered_at`` says an earlier attempt did, then mark it DISPATCHED. The decision's event
(``Countersign Decision Recorded``) is put between the audit and the callback, and the review
leaves its reviewers' inboxes. A vote that does not yet decide is audited from its stream record
(``record_votes``); a decision's audit writes any vote record still missing first. A crash anywhere leaves
the review claimed or decided, and so listed by the ``by-outbox`` index for the next sweep. A
delivery that meets an AWS error releases its claim first, so the stream's retry takes it at once.

``countersign redrive`` runs the sweep and then clears the dead letters it made moot: the
dispatcher's dead-letter queue holds only the metadata of stream batches that failed every retry,
and each decision in such a batch stays listed by the outbox until it is dispatched.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from countersign.evidence import audit
from countersign.adapters.deps import Deps
from countersign.review.reviews import DECIDED, DISPATCHING, Review
from countersign.workflow.announce import DECISION_RECORDED, announce
from countersign.workflow.verdicts import record_decision

CLAIM_MARGIN_SECONDS = 30
AWS_ERRORS = (BotoCoreError, ClientError)   # a failed call this delivery survives (not a crash)


def stale_after(dispatcher_timeout: int) -> int:
    """A claim older than this belongs to a dispatcher that died: its invocation ran out of time
    (``dispatcher_timeout``) and a margin for clock skew has passed."""
    return dispatcher_timeout + CLAIM_MARGIN_SECONDS


class ClaimHeld(RuntimeError):
    """Another delivery holds a fresh claim on this decision. That delivery finishes it, or, if it
    died, the next sweep takes the claim over once it is stale: the outbox still lists it."""


@dataclass(frozen=True)
class Dispatched:
    """``delivered`` (the callback was accepted), ``closed`` (the task had already closed: an earlier
    delivery landed, or its timer fired and the timeout branch followed the stored decision),
    ``scored`` (a canary's decision: recorded, with no callback), or ``done`` (nothing to do);
    ``resumed`` when the claim was taken over from a dead dispatcher."""

    result: str
    resumed: bool = False


def dispatch(review_id: str, deps: Deps, stale: int) -> Dispatched:
    """Hand one stored decision to the waiting workflow. Raises ClaimHeld when another delivery
    holds a fresh claim."""
    now = int(deps.clock())
    claimed = deps.reviews.claim_dispatch(review_id, now, stale)
    if claimed == "held":
        raise ClaimHeld(f"review {review_id} is being dispatched by another delivery")
    if claimed == "done":
        return Dispatched("done")
    review: Review = claimed
    resumed = review.status == DISPATCHING and review.claimed_at is not None   # not a released claim
    try:
        return _deliver(review, deps, now, resumed)
    except AWS_ERRORS:
        deps.reviews.release_claim(review_id, now)
        raise


def _deliver(review: Review, deps: Deps, now: int, resumed: bool) -> Dispatched:
    review_id = review.review_id
    if resumed:                            # taken over from a dispatcher that died mid-way
        audit.append(deps.audit, review.case.execution.audit_stream, "dispatch_resumed", review.case.record({
            "actor": "system:dispatcher", "claim_age_seconds": now - review.claimed_at,
            "delivered_before": review.delivered_at is not None,
        }), event_key=f"dispatch_resumed.{review_id}.{review.claimed_at}")
    # announced once the decision is audited, before the callback: a crash after this announces
    # the same event id again on the retry, so none is lost
    announce(deps.events, DECISION_RECORDED, record_decision(review, deps))
    deps.reviews.close_entries(review)     # out of the reviewers' inboxes
    delivered = review.delivered_at
    if review.case.canary:                 # scored by its record; nothing waits for it, nothing runs
        deps.reviews.mark_dispatched(review_id, None, int(deps.clock()))
        return Dispatched("scored", resumed)
    if delivered is None and deps.callbacks.deliver(review.task_token, review.decision):
        delivered = int(deps.clock())
    deps.reviews.mark_dispatched(review_id, delivered, int(deps.clock()))
    return Dispatched("delivered" if delivered else "closed", resumed)


def is_new_decision(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """A stream record (typed images) of a review item that just became DECIDED."""
    return (new.get("sk", {}).get("S") == "REVIEW" and new.get("status", {}).get("S") == DECIDED
            and old.get("status", {}).get("S") != DECIDED)


def is_new_vote(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """A stream record (typed images) of a review item that counted one more vote towards its
    quorum without being decided (a decision's votes are audited with it)."""
    return (new.get("sk", {}).get("S") == "REVIEW" and new.get("status", {}).get("S") != DECIDED
            and len(new.get("votes", {}).get("L", [])) > len(old.get("votes", {}).get("L", [])))


@dataclass
class Sweep:
    delivered: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    scored: list[str] = field(default_factory=list)     # canaries' decisions, recorded with no callback
    failed: list[str] = field(default_factory=list)      # met an AWS error: still listed, for the next sweep
    resumed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"delivered": len(self.delivered), "closed": len(self.closed), "held": len(self.held),
                "scored": len(self.scored), "failed": len(self.failed), "resumed": self.resumed,
                "reviews": sorted(self.delivered + self.closed + self.scored)}


def reconcile(deps: Deps, stale: int) -> Sweep:
    """Finish every decision the outbox still lists: left DECIDED (its stream record never came,
    or failed for good) or claimed by a dispatcher that died. A fresh claim is left to its holder;
    an AWS error on one review does not stop the others."""
    sweep = Sweep()
    for review_id in deps.reviews.undispatched():
        try:
            done = dispatch(review_id, deps, stale)
        except ClaimHeld:
            sweep.held.append(review_id)
            continue
        except AWS_ERRORS:
            sweep.failed.append(review_id)
            continue
        if done.result != "done":
            sweep.resumed += done.resumed
            {"delivered": sweep.delivered, "scored": sweep.scored}.get(done.result, sweep.closed).append(review_id)
    return sweep


def redrive(deps: Deps, stale: int, skew: int = CLAIM_MARGIN_SECONDS) -> dict[str, Any]:
    """The sweep, then every dead letter whose batch it has finished is cleared: one is kept while
    the outbox still lists a decision made before the batch's last record arrived (plus ``skew``
    for clocks), or when the letter does not say when that was. Safe to repeat."""
    swept = reconcile(deps, stale).as_dict()
    letters = deps.dead_letters.receive()     # first: a letter's decision, if undelivered, is then listed
    waiting = [deps.reviews.get(r) for r in deps.reviews.undispatched()]
    decided = [_epoch(r.decision.decided_at) for r in waiting if r is not None and r.decision is not None]
    cleared = kept = 0
    for receipt, last_arrival in letters:
        if last_arrival is not None and all(at > last_arrival + skew for at in decided):
            deps.dead_letters.delete(receipt)
            cleared += 1
        else:
            deps.dead_letters.keep(receipt)
            kept += 1
    return {**swept, "dead_letters": {"cleared": cleared, "kept": kept}}


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
