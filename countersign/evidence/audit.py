"""The audit trail: append-only, one canonical-JSON object per record, hash-chained per stream.

A stream is one execution's records (``Execution.audit_stream``) or one refused request. Keys are
``{stream}/{seq:06d}.json``; each record holds ``prev_hash`` and its own ``hash`` (SHA-256 of the
canonical record without ``hash``). Appending is safe under concurrency and retries: the store
refuses to overwrite a key, so two writers racing for one sequence number cannot fork the chain
(the loser re-reads and appends after the winner), and a record whose ``event_key`` is already in
the stream is returned instead of written twice. Streams are short (a handful of records per
execution), so each append reads the whole stream.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Protocol

from countersign.rules import canonical

GENESIS = "0" * 64
RECORD_SCHEMA = "countersign.audit/1"
EVENTS = frozenset({
    "proposal_received", "review_requested", "decision_recorded", "auto_approved",
    "expired", "late_decision", "refused_request", "verdict_issued", "kill_switch_changed", "vote_recorded",
    "escalated", "reminder_sent", "action_executed", "execution_failed", "dispatch_resumed", "digest_sent",
    "autonomy_changed", "autonomy_demoted",
})


class AuditStore(Protocol):
    def list_keys(self, prefix: str) -> list[str]: ...
    def get(self, key: str) -> bytes: ...
    def put_new(self, key: str, body: bytes) -> bool:
        """Write ``body`` at ``key`` unless the key exists; return whether it was written."""


class AuditConflict(RuntimeError):
    pass


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record_hash(record: dict[str, Any]) -> str:
    return canonical.sha256({k: v for k, v in record.items() if k != "hash"})


def append(store: AuditStore, stream: str, event: str, fields: dict[str, Any],
           event_key: str | None = None, attempts: int = 8) -> dict[str, Any]:
    """Append one record to ``stream`` and return it (or the earlier copy of the same event)."""
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    event_key = event_key or event
    for _ in range(attempts):
        records = read_stream(store, stream)
        for earlier in records:
            if earlier["event_key"] == event_key:
                return earlier
        prev = records[-1] if records else None
        record = {
            **fields,
            "schema": RECORD_SCHEMA,
            "event": event,
            "event_key": event_key,
            "stream": stream,
            "seq": prev["seq"] + 1 if prev else 1,
            "prev_hash": prev["hash"] if prev else GENESIS,
            "recorded_at": now_iso(),
        }
        record["hash"] = record_hash(record)
        key = f"{stream}/{record['seq']:06d}.json"
        if store.put_new(key, canonical.dumps(record).encode("utf-8")):
            return record
    raise AuditConflict(f"could not append {event_key} to {stream} after {attempts} attempts")


def refusal_stream(request_id: str, at: str | None = None) -> str:
    day = (at or now_iso())[:10].replace("-", "/")
    return f"refusals/{day}/{request_id}"


def read_stream(store: AuditStore, stream: str) -> list[dict[str, Any]]:
    return [json.loads(store.get(k)) for k in sorted(store.list_keys(stream + "/"))]


def read_prefix(store: AuditStore, prefix: str) -> list[dict[str, Any]]:
    """Every record under ``prefix`` (for the calibrator, which reads the whole history; the
    Athena queries are the way out for large trails)."""
    return [json.loads(store.get(k)) for k in store.list_keys(prefix) if k.endswith(".json")]
