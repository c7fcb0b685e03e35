"""A reviewer's inbox: ``GET /inbox?t=…`` lists their pending reviews, nearest deadline first and,
for the same deadline, the higher risk first, a page at a time, each with its quorum and tier.

The token is the reviewer's signed inbox link (``links.verify_inbox``), its own kind: it opens no
review, and no review link opens an inbox. Each listed review links to its review page with a
fresh review link for this reviewer. Showing the inbox changes nothing; a refusal is audited.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from countersign.adapters.deps import Deps
from countersign.review.desk import Reply, Request, _refuse
from countersign.review.registry import INACTIVE
from countersign.review.links import LinkRefused, review_url, sign, verify_inbox
from countersign.review.pages import inbox_page, message_page
from countersign.review.reviews import PENDING, Review

PAGE_SIZE = 20
_CURSOR = re.compile(r"^[0-9]{12}#[0-9]#rv-[0-9a-f]{20}$")   # an inbox key (``aws.inbox_key``)


@dataclass(frozen=True)
class Entry:
    """One pending review as the inbox lists it."""

    review: Review
    link: str             # the review page, with a review link for this reviewer
    approvals: int        # approvals so far (quorum)
    approved: bool        # this reviewer has approved already and waits for the others
    tier: int             # 1-based escalation tier
    tiers: int


def show(token: str | None, after: str | None, deps: Deps, request: Request) -> Reply:
    claimed = {"review_id": None, "method": "GET", "resource": "/inbox"}
    try:
        grant = verify_inbox(deps.mac, token, deps.clock())
    except LinkRefused as exc:
        _refuse(deps, request, 403, str(exc), claimed)
        return Reply(403, message_page(403, "This link does not open an inbox",
                                       f"{exc}. Use the inbox link in your most recent review email."))
    person = deps.load_registry().by_id.get(grant.reviewer)
    if person is None or not person.active:          # a deactivated reviewer's inbox opens nothing either
        reason = "your reviewer account is not active, so your links no longer work"
        _refuse(deps, request, 403, reason, {**claimed, "reviewer": grant.reviewer, "refusal": INACTIVE})
        return Reply(403, message_page(403, "This link does not open an inbox", reason + "."))
    if after and not _CURSOR.match(after):
        _refuse(deps, request, 400, "malformed inbox page cursor", {**claimed, "reviewer": grant.reviewer})
        return Reply(400, message_page(400, "This inbox page does not exist",
                                       "The page marker in the address is not one this inbox made.",
                                       inbox_link(token)))
    now = int(deps.clock())
    rows, more = deps.reviews.inbox_page(grant.reviewer, after or "", now, PAGE_SIZE)
    entries = [entry(review, grant.reviewer, deps) for review in (deps.reviews.get(rid) for _, rid in rows)
               if review is not None and review.status == PENDING and grant.reviewer in review.reviewers]
    return Reply(200, inbox_page(
        grant.reviewer, entries, deps.reviews.count_open(grant.reviewer, now), grant.expires_at,
        first=inbox_link(token) if after else None,
        next=f"{inbox_link(token)}&after={quote(rows[-1][0])}" if more else None))


def inbox_link(token: str) -> str:
    """Relative to the inbox itself, so it holds behind any stage path."""
    return f"inbox?t={quote(token)}"


def entry(review: Review, reviewer: str, deps: Deps) -> Entry:
    rules = review.case.rules
    voters = {v["reviewer"] for v in review.votes}
    return Entry(review, review_url(".", review.review_id, sign(deps.mac, review.review_id, reviewer, review.deadline)),
                 len(review.votes), reviewer in voters, review.case.current_tier["index"] + 1,
                 len(rules.tiers) or 1)
