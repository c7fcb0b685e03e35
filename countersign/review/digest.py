"""Digest mode (context ``notify: digest``): one email per reviewer per interval, listing what is new.

RequestReview holds a review for the digest (``queue_digest``) unless it is urgent: risk high or
above, or a deadline inside the interval; an urgent review is emailed at once, as in ``each`` mode.
The scheduled sweep (``send_digests``) sends each reviewer with held reviews one email for the
current interval, claimed by one conditional write (``claim_digest``), so a repeated or retried
sweep never sends a second one in the same interval. Reviews decided or closed meanwhile are left
out; every listed review gets a ``digest_sent`` record. At most ``MAX_LISTED`` are listed; the
email's inbox link shows them all. Reminders are never held.
"""
from __future__ import annotations

from countersign.adapters.deps import Deps
from countersign.evidence import audit
from countersign.review.links import emailed_inbox, review_url, sign
from countersign.review.notify import clip, deadline_text
from countersign.review.inert import defang
from countersign.review.reviews import PENDING, Review, inbox_key
from countersign.rules.policy import RISKS

MAX_LISTED = 50
URGENT_RISK = "high"


def urgent(review: Review, now: float, interval: int) -> bool:
    """Risk high or above, or a deadline that would pass before the next digest."""
    risk = review.case.facts.get("risk", "medium")
    return RISKS.index(risk) >= RISKS.index(URGENT_RISK) or review.deadline - now <= interval


def held(review: Review, deps: Deps) -> bool:
    """In digest mode, hold a review that is not urgent for each reviewer's next digest."""
    if not deps.digest_seconds or urgent(review, deps.clock(), deps.digest_seconds):
        return False
    for reviewer in review.reviewers:
        deps.reviews.queue_digest(reviewer, review)
    return True


def send_digests(deps: Deps) -> int:
    """Send every reviewer with held reviews their digest for this interval; return how many were sent."""
    if not deps.digest_seconds:
        return 0
    now = deps.clock()
    window, sent = int(now // deps.digest_seconds), 0
    for reviewer in deps.reviewers:
        queued = deps.reviews.queued_digest(reviewer)
        if not queued:
            continue
        reviews = [r for r in (deps.reviews.get(i) for i in queued)
                   if r is not None and r.status == PENDING and r.deadline > now and reviewer in r.reviewers]
        if reviews and not deps.reviews.claim_digest(reviewer, window):
            continue                                   # this interval's digest went out already
        if reviews:
            reviews.sort(key=inbox_key)
            deps.notifier.send(reviewer, subject(len(reviews)), digest_email(reviews, reviewer, deps))
            for review in reviews:
                audit.append(deps.audit, review.case.execution.audit_stream, "digest_sent", review.case.record({
                    "actor": "system:digest", "reviewer": reviewer, "listed": len(reviews),
                    "deadline": review.deadline}), event_key=f"digest_sent.{review.review_id}.{review.case.named(reviewer)}")
            sent += 1
        deps.reviews.unqueue_digest(reviewer, queued)
    return sent


def subject(count: int) -> str:
    return f"[Countersign] {count} new review{'s' if count != 1 else ''} waiting for you"


def digest_email(reviews: list[Review], reviewer: str, deps: Deps) -> str:
    lines = [f"{len(reviews)} proposed AI action{'s are' if len(reviews) != 1 else ' is'} waiting for you "
             f"(new since your last digest; urgent ones are mailed at once).", ""]
    for n, review in enumerate(reviews[:MAX_LISTED], 1):
        token = sign(deps.mac, review.review_id, reviewer, review.deadline)
        lines += [f"{n}. {review.case.action['type']} · risk {review.case.facts.get('risk', 'medium')} · "
                  f"decide by {deadline_text(review.deadline)}",
                  f"   Summary (written by the AI, unverified; links disabled): "
                  f"{clip(defang(review.case.action['summary']), 300)}",
                  f"   {review_url(deps.review_base_url, review.review_id, token)}", ""]
    if len(reviews) > MAX_LISTED:
        lines += [f"… and {len(reviews) - MAX_LISTED} more: see your inbox.", ""]
    inbox, expires = emailed_inbox(deps.mac, deps.review_base_url, reviewer, deps.clock())
    lines += [f"Your inbox, everything pending for you (valid until {deadline_text(expires)}):", inbox, "",
              "These links are yours alone; opening them changes nothing. Do not forward them."]
    return "\n".join(lines)
