"""The audit trail: hash-chained, idempotent appends over an in-memory store, and canonical JSON."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from countersign.evidence import audit

from countersign.rules import canonical
from countersign.evidence.audit import GENESIS, AuditConflict, append, read_stream, record_hash, refusal_stream

STREAM = "executions/2026/11/24/gate/run-1"


class FakeStore:
    """An S3 bucket that refuses to overwrite: ``put_new`` is False when the key exists."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def list_keys(self, prefix: str) -> list[str]:
        return [k for k in self.objects if k.startswith(prefix)]

    def get(self, key: str) -> bytes:
        return self.objects[key]

    def put_new(self, key: str, body: bytes) -> bool:
        if key in self.objects:
            return False
        self.objects[key] = body
        return True


class RacingStore(FakeStore):
    """Runs ``rival`` once, just before the first write, as another writer would."""

    def __init__(self, rival) -> None:
        super().__init__()
        self.rival = rival

    def put_new(self, key: str, body: bytes) -> bool:
        if self.rival:
            rival, self.rival = self.rival, None
            rival(self)
        return super().put_new(key, body)


def test_appends_build_a_hash_chain_from_genesis():
    store = FakeStore()
    records = [append(store, STREAM, e, {"n": i}) for i, e in
               enumerate(["proposal_received", "review_requested", "decision_recorded"])]
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert [r["prev_hash"] for r in records] == [GENESIS, records[0]["hash"], records[1]["hash"]]
    assert all(r["hash"] == record_hash(r) for r in records)
    assert all(r["schema"] == "countersign.audit/1" and r["stream"] == STREAM for r in records)
    assert sorted(store.objects) == [f"{STREAM}/000001.json", f"{STREAM}/000002.json", f"{STREAM}/000003.json"]
    assert read_stream(store, STREAM) == records


def test_stored_body_is_the_canonical_record():
    store = FakeStore()
    record = append(store, STREAM, "proposal_received", {"z": 1, "a": "é"})
    assert store.objects[f"{STREAM}/000001.json"] == canonical.dumps(record).encode()
    assert record["recorded_at"].endswith("Z")


def test_reappending_the_same_event_returns_the_earlier_record():
    store = FakeStore()
    first = append(store, STREAM, "review_requested", {"attempt": 1})
    again = append(store, STREAM, "review_requested", {"attempt": 2})
    assert again == first and len(store.objects) == 1


def test_distinct_event_keys_for_one_event_are_both_kept():
    store = FakeStore()
    append(store, STREAM, "late_decision", {}, event_key="late_decision-alice")
    append(store, STREAM, "late_decision", {}, event_key="late_decision-bob")
    assert [r["event_key"] for r in read_stream(store, STREAM)] == ["late_decision-alice", "late_decision-bob"]


def test_concurrent_writer_of_the_same_event_wins_and_nothing_is_duplicated():
    rival_record = {}
    store = RacingStore(lambda s: rival_record.update(append(s, STREAM, "decision_recorded", {"by": "rival"})))
    mine = append(store, STREAM, "decision_recorded", {"by": "me"})
    assert mine == rival_record and mine["by"] == "rival"
    assert len(store.objects) == 1


def test_concurrent_writer_of_another_event_makes_append_land_at_the_next_seq():
    store = RacingStore(lambda s: append(s, STREAM, "expired", {}))
    mine = append(store, STREAM, "decision_recorded", {})
    rival = read_stream(store, STREAM)[0]
    assert (mine["seq"], mine["prev_hash"]) == (2, rival["hash"])


def test_a_store_that_never_accepts_raises_after_the_attempts():
    store = FakeStore()
    store.put_new = lambda key, body: False
    with pytest.raises(AuditConflict, match=f"could not append expired to {STREAM} after 3 attempts"):
        append(store, STREAM, "expired", {}, attempts=3)


def test_unknown_event_is_refused_and_nothing_written():
    store = FakeStore()
    with pytest.raises(ValueError, match="unknown audit event 'deleted'"):
        append(store, STREAM, "deleted", {})
    assert store.objects == {}


def test_record_hash_ignores_its_own_hash_and_detects_tampering():
    record = append(FakeStore(), STREAM, "auto_approved", {"confidence": 0.97})
    assert record_hash({**record, "hash": "x"}) == record["hash"]
    assert record_hash({**record, "confidence": 0.5}) != record["hash"]


def test_canonical_json_is_key_sorted_compact_and_stable():
    assert canonical.dumps({"b": 1, "a": [2, 1], "c": "é"}) == '{"a":[2,1],"b":1,"c":"é"}'
    assert canonical.sha256({"x": 1, "y": {"q": 2, "p": 3}}) == canonical.sha256({"y": {"p": 3, "q": 2}, "x": 1})
    assert canonical.dumps({"n": Decimal("2"), "f": Decimal("2.5"), "s": {"b", "a"}}) == '{"f":2.5,"n":2,"s":["a","b"]}'
    with pytest.raises(TypeError, match="not JSON serialisable: object"):
        canonical.dumps(object())
    assert json.loads(canonical.dumps({"k": [1, {"z": None}]})) == {"k": [1, {"z": None}]}


def test_refusal_stream_is_dated_by_day():
    assert refusal_stream("req-42", "2026-11-24T10:11:12.000Z") == "refusals/2026/11/24/req-42"
    today = audit.now_iso()[:10].replace("-", "/")
    assert refusal_stream("req-43") == f"refusals/{today}/req-43"
