"""Reviewer vigilance: is oversight still oversight, or has it become a click?

Per reviewer and action type, from the decision history (``history.decisions``): how many
decisions, the approve-as-is, modify and reject rates, the median dwell on the page, the share
of decisions faster than a floor, and canaries caught and missed. Three flags:

- ``rubber_stamp``: approvals (as proposed) >= 98% over >= 50 decisions;
- ``fast``: a median dwell under 5 s;
- ``missed_canary``: any canary approved as proposed.

Pure functions, no AWS. Decisions whose page carried no rendering stamp have no dwell: they
count everywhere but in the dwell figures.
"""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Iterable

from countersign.evidence.history import HistoryRow

RUBBER_STAMP_RATE = 0.98     # approvals as proposed at or above this share ...
RUBBER_STAMP_MIN = 50        # ... over at least this many decisions
FAST_SECONDS = 5.0           # the dwell floor: a decision faster than this is a glance
FLAGS = ("rubber_stamp", "fast", "missed_canary")
# the metric the watch emits per flag: how many reviewer × action type lines carry it (alarms watch these)
METRICS = {"rubber_stamp": "RubberStampReviewers", "fast": "FastReviewers", "missed_canary": "MissedCanaryReviewers"}


@dataclass(frozen=True)
class Vigilance:
    """One reviewer's decisions on one action type."""

    reviewer: str
    action_type: str
    decisions: int
    approved: int
    modified: int
    rejected: int
    approve_rate: float
    modify_rate: float
    reject_rate: float
    timed: int                       # decisions with a dwell (a signed rendering stamp)
    median_dwell: float | None
    fast_share: float | None         # of the timed decisions, the share faster than the floor
    canaries: int
    caught: int
    missed: int
    rubber_stamp: bool
    fast: bool
    missed_canary: bool

    @property
    def flags(self) -> tuple[str, ...]:
        return tuple(flag for flag in FLAGS if getattr(self, flag))

    def to_dict(self) -> dict:
        return {**asdict(self), "flags": list(self.flags)}


def watch(rows: Iterable[HistoryRow], floor: float = FAST_SECONDS) -> list[Vigilance]:
    """One line per (reviewer, action type) with at least one decision, sorted by both."""
    groups: dict[tuple[str, str], list[HistoryRow]] = {}
    for row in rows:
        groups.setdefault((row.reviewer, row.action_type), []).append(row)
    return [_line(reviewer, action_type, group, floor) for (reviewer, action_type), group in sorted(groups.items())]


def _line(reviewer: str, action_type: str, rows: list[HistoryRow], floor: float) -> Vigilance:
    n = len(rows)
    count = {outcome: sum(r.outcome == outcome for r in rows) for outcome in ("approved", "modified", "rejected")}
    dwells = [r.dwell_seconds for r in rows if r.dwell_seconds is not None]
    median = statistics.median(dwells) if dwells else None
    canaries = [r for r in rows if r.canary]
    caught = sum(bool(r.caught) for r in canaries)
    return Vigilance(
        reviewer, action_type, n, count["approved"], count["modified"], count["rejected"],
        count["approved"] / n, count["modified"] / n, count["rejected"] / n,
        len(dwells), median, sum(d < floor for d in dwells) / len(dwells) if dwells else None,
        len(canaries), caught, len(canaries) - caught,
        rubber_stamp=n >= RUBBER_STAMP_MIN and count["approved"] / n >= RUBBER_STAMP_RATE,
        fast=median is not None and median < floor,
        missed_canary=len(canaries) > caught)


def attention(lines: Iterable[Vigilance]) -> list[Vigilance]:
    """The lines with a flag: who needs attention, and for what."""
    return [line for line in lines if line.flags]
