"""Countersign's events on EventBridge, so a pipeline or an agent can react to a review without
holding a ``--wait`` open.

Three detail types, source ``countersign``, detail schema ``countersign/schemas/event-detail.v1.json``
(documented in ``docs/events.md``): ``Countersign Review Requested`` (a gate asked its reviewers),
``Countersign Decision Recorded`` (a reviewer's decision was audited) and ``Countersign Verdict
Issued`` (the workflow concluded). Each detail is picked from the audit record just written, so it
names reviewers as the trail does and carries no task token, link, rationale or AI-written text.

An event is put after its audit record is durable and carries that record's hash as ``id``: a
retried step finds the record already written, puts the same ``id`` again, and a consumer
deduplicates on it (delivery is at least once). Putting never blocks the decision path: a failure
is logged and counted (``EventsNotPublished``, alarmed) and the step goes on; the trail keeps the
record the event would have announced.
"""
from __future__ import annotations

from typing import Any

SOURCE = "countersign"
SCHEMA_VERSION = "1"
REVIEW_REQUESTED = "Countersign Review Requested"
DECISION_RECORDED = "Countersign Decision Recorded"
VERDICT_ISSUED = "Countersign Verdict Issued"
COMMON = ("review_id", "proposal_sha256", "action_type", "route")
FIELDS = {
    REVIEW_REQUESTED: ("mode", "tier", "reviewers", "deadline"),
    DECISION_RECORDED: ("mode", "decision", "reviewer", "decided_at"),
    VERDICT_ISSUED: ("outcome", "decided_by"),
}
# An example rule's pattern (docs/events.md): every verdict of one action type.
EXAMPLE_PATTERN = {"source": [SOURCE], "detail-type": [VERDICT_ISSUED], "detail": {"action_type": ["refund.issue"]}}


def detail(detail_type: str, record: dict[str, Any]) -> dict[str, Any]:
    """The event's detail, from the audit record that it announces."""
    return {
        "schema_version": SCHEMA_VERSION,
        "id": record["hash"],
        "execution": {"arn": record["execution"]["arn"], "name": record["execution"]["name"]},
        **{key: record.get(key) for key in COMMON},
        "policy_version": record["policy"]["version"],
        **{key: record.get(key) for key in FIELDS[detail_type]},
        "audit": {"stream": record["stream"], "seq": record["seq"], "hash": record["hash"]},
        "recorded_at": record["recorded_at"],
    }


def announce(events: Any, detail_type: str, record: dict[str, Any]) -> bool:
    """Put one event for ``record`` (``events`` is an ``EventBridgeEvents``, or None for none).
    Returns whether it was put; never raises."""
    if events is None:
        return False
    return events.put(detail_type, detail(detail_type, record), resources=[record["execution"]["arn"]])
