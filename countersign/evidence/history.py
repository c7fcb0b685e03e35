"""The decision history: one row per human decision, read from the audit trail.

Every consumer of the correction history (the calibrator, the vigilance watch, the reports, the
simulation) reads it here. A row comes from one ``decision_recorded`` record (written once per
review), so it needs no join: the record carries the case (action type, confidence, route,
routing facts, policy version) and the decision (reviewer, outcome, reason category, dwell);
the route is the gate's, from the review's mode (the record's own ``route`` says ``pending`` when
the dispatcher wrote it, before the workflow settled).
The same rows, at scale, come from the named SQL query ``decisions``
(``audit_queries.QUERIES``), which Athena runs over the bucket; the tests hold the two equal.

Pure functions over parsed records (``figures.records_of`` turns stored objects into them).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable

from countersign.rules import calibration
from countersign.rules.routing import ROUTE_OF_MODE

OVERRIDES = ("modified", "rejected")
# How a canary marker reads in SQL, where the SerDe hands over JSON text: these mean "not a canary".
FALSY_JSON = ("false", "0", "", "{}", "[]")


@dataclass(frozen=True)
class HistoryRow:
    """One reviewer's decision on one review, as the trail recorded it."""

    review_id: str
    execution: str               # the execution's ARN
    action_type: str
    confidence: float
    outcome: str                 # approved | modified | rejected
    modified: bool
    reason: str | None           # the override reason category (modify or reject), if recorded
    reviewer: str                # as recorded: a registry id or a pseudonym
    dwell_seconds: float | None  # from the signed rendered_at; None for a page without a stamp
    spot_check: bool             # an auto-zone proposal sampled for review
    canary: bool                 # a known-bad variant sent to test the reviewer
    caught: bool | None          # for a canary: modified or rejected (or the record's own ``caught``)
    decided_at: str
    policy_version: str
    risk: str | None
    route: str                   # human_review, veto_window, post_execution, post_hoc
    mode: str                    # review, veto, signoff, reverse

    @property
    def override(self) -> bool:
        return self.outcome in OVERRIDES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decisions(records: Iterable[dict[str, Any]]) -> list[HistoryRow]:
    """Every human decision in ``records`` (parsed audit records, any order), oldest first."""
    rows = [_row(r) for r in records if r.get("event") == "decision_recorded"]
    return sorted(rows, key=lambda r: (r.decided_at, r.review_id))


def _row(record: dict[str, Any]) -> HistoryRow:
    facts, policy, execution = (record.get(k) or {} for k in ("facts", "policy", "execution"))
    outcome = record["decision"]
    canary = bool(record.get("canary"))
    caught = record.get("caught")
    return HistoryRow(
        review_id=record["review_id"], execution=execution.get("arn"), action_type=record["action_type"],
        confidence=float(record["confidence"]), outcome=outcome, modified=outcome == "modified",
        reason=record.get("reason"), reviewer=record["reviewer"], dwell_seconds=record.get("dwell_seconds"),
        spot_check=bool(facts.get("spot_check")), canary=canary,
        caught=(outcome in OVERRIDES if caught is None else bool(caught)) if canary else None,
        decided_at=record["decided_at"], policy_version=policy.get("version"), risk=facts.get("risk"),
        route=ROUTE_OF_MODE.get(record["mode"], record["route"]), mode=record["mode"])


def from_query(rows: Iterable[dict[str, Any]]) -> list[HistoryRow]:
    """History rows from the ``decisions`` query's result (DuckDB or Athena), oldest first."""
    return sorted((HistoryRow(**row) for row in rows), key=lambda r: (r.decided_at, r.review_id))


def calibration_rows(rows: Iterable[HistoryRow]) -> list[calibration.Decision]:
    """What the calibrator reads. Canaries are left out: a known-bad variant made to test a
    reviewer says nothing about how often the model is wrong."""
    return [calibration.Decision(r.action_type, r.confidence, r.outcome, r.spot_check, r.reviewer, r.decided_at)
            for r in rows if not r.canary]
