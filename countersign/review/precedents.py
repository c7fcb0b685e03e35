"""What a reviewer sees of earlier decisions: precedents and the track record on this action type.

One bounded query per page (the last ``LOOKBACK`` decisions on the action type, from the
reviews table's ``by-action-type`` index). A case the viewer may not see is left out of both:
another action type's (never read: the index is partitioned by type) and one the viewer could
not decide (above their authority, or a type outside their assignment; ``Registry.may_see``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LOOKBACK = 50       # decisions read per page view
SHOWN = 5           # precedents shown
BAND = 0.1          # the confidence band of the track record
MAX_RATIONALE_SHOWN = 300


@dataclass(frozen=True)
class Precedent:
    outcome: str
    rationale: str
    reviewer: str
    age: str


@dataclass(frozen=True)
class TrackRecord:
    low: float
    high: float
    decided: int        # decisions on this action type at this confidence band (among those read)
    overridden: int     # of which a reviewer modified or rejected what the model proposed
    looked_at: int      # how many recent decisions were read


def earlier(store: Any, review: Any, viewer: str, registry: Any, now: float) -> tuple[list[Precedent], TrackRecord]:
    """Precedents and track record for ``viewer`` on ``review``'s action type."""
    action_type = review.case.action["type"]
    rows = [r for r in store.decided_of_type(action_type, LOOKBACK)
            if r["review_id"] != review.review_id and registry.may_see(viewer, action_type, r["risk"])]
    shown = [Precedent(r["decision"]["outcome"], _cut(r["decision"].get("rationale") or ""),
                       r["decision"]["reviewer"], age(now - r["decided_epoch"])) for r in rows[:SHOWN]]
    here = band(review.case.confidence)
    alike = [r for r in rows if band(r["confidence"]) == here]
    return shown, TrackRecord(round(here * BAND, 2), round((here + 1) * BAND, 2), len(alike),
                              sum(r["decision"]["outcome"] != "approved" for r in alike), len(rows))


def band(confidence: float) -> int:
    """The confidence band's index: 0.70 to 0.79… is band 7; 1.0 joins the top band."""
    return min(int(round(confidence / BAND, 9)), round(1 / BAND) - 1)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_RATIONALE_SHOWN else text[:MAX_RATIONALE_SHOWN - 1] + "…"


def age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"
