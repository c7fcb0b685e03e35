"""What a reviewer sees of earlier decisions: precedents and the track record on this action type.

Precedents: one bounded query per page (the last ``LOOKBACK`` decisions on the action type, from
the reviews table's ``by-action-type`` index). The track record: the decision history's override
counts per action type, confidence band and risk, which the calibrator stores in one item each
time it reads the history (``track_document``); the page sums the risks the viewer may see.
A case the viewer may not see is left out of both: another action type's (never read: the index
is partitioned by type) and one the viewer could not decide (above their authority, or a type
outside their assignment; ``Registry.may_see``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

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
    decided: int            # human decisions in the history on this action type at this band
    overridden: int         # of which a reviewer modified or rejected what the model proposed
    as_of: str | None       # when the calibrator last counted the history (None: not yet)


def earlier(latest: list[dict[str, Any]], review: Any, viewer: str, registry: Any, now: float,
            track: dict[str, Any] | None) -> tuple[list[Precedent], TrackRecord]:
    """Precedents and track record for ``viewer`` on ``review``'s action type: ``latest`` is the
    store's ``decided_of_type(type, LOOKBACK)``, ``track`` the stored ``track_document`` (None
    before the calibrator's first run)."""
    action_type = review.case.action["type"]
    rows = [r for r in latest
            if r["review_id"] != review.review_id and registry.may_see(viewer, action_type, r["risk"])]
    shown = [Precedent(r["decision"]["outcome"], _cut(r["decision"].get("rationale") or ""),
                       r["decision"]["reviewer"], age(now - r["decided_epoch"])) for r in rows[:SHOWN]]
    here = band(review.case.confidence)
    counts = ((track or {}).get("counts", {}).get(action_type, {}).get(str(here), {}))
    seen = [n for risk, n in counts.items() if registry.may_see(viewer, action_type, risk)]
    return shown, TrackRecord(round(here * BAND, 2), round((here + 1) * BAND, 2), sum(n[0] for n in seen),
                              sum(n[1] for n in seen), (track or {}).get("as_of"))


def track_document(rows: Iterable[Any], as_of: str) -> dict[str, Any]:
    """The track record of every action type from the decision history (``history.HistoryRow``):
    ``counts[type][band][risk] = [decisions, overrides]``. Canaries are left out: a known-bad
    variant made to test a reviewer says nothing about the model."""
    counts: dict[str, dict[str, dict[str, list[int]]]] = {}
    decisions = 0
    for r in rows:
        if r.canary:
            continue
        decisions += 1
        n = counts.setdefault(r.action_type, {}).setdefault(str(band(r.confidence)), {}).setdefault(
            r.risk or "medium", [0, 0])
        n[0] += 1
        n[1] += r.override
    return {"as_of": as_of, "decisions": decisions, "counts": counts}


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
