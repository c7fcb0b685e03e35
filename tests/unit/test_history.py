"""The decision history: one row per human decision, the same from the records (Python) and
from the named ``decisions`` query (the SQL Athena runs at scale, here on DuckDB)."""
from __future__ import annotations

import json

from countersign.evidence import audit_queries, history
from countersign.evidence.compliance.figures import records_of
from countersign.rules import calibration
from countersign.rules.routing import ROUTE_OF_MODE
from tests.fixtures.synthetic_trail import decision_trail


def _both(objects):
    read = history.decisions(records_of(objects))
    queried = history.from_query(audit_queries.run_local(objects, ["decisions"])["decisions"])
    return read, queried


def test_the_rows_from_the_records_equal_the_rows_from_the_sql_on_a_synthetic_trail():
    objects = decision_trail(600)
    read, queried = _both(objects)
    assert len(read) == 600 and read == queried
    # the trail holds every shape the rows must tell apart, so the equality is not vacuous
    assert {r.outcome for r in read} == {"approved", "modified", "rejected"}
    assert {r.canary for r in read} == {True, False} and {r.caught for r in read} == {True, False, None}
    assert {r.spot_check for r in read} == {True, False}
    assert {r.route for r in read} == {"human_review", "veto_window", "post_execution"}
    assert any(r.dwell_seconds is None for r in read) and any(r.dwell_seconds for r in read)
    assert {r.reason for r in read if r.override} == {"wrong_parameters", "wrong_action", "policy", "other"}
    assert {r.reason for r in read if not r.override} == {None}
    assert [r.decided_at for r in read] == sorted(r.decided_at for r in read)


def test_a_row_carries_what_the_decision_record_says():
    [row] = history.decisions(records_of(decision_trail(1, seed=3)))
    record = json.loads(decision_trail(1, seed=3)[2].body)
    assert row.review_id == record["review_id"] and row.execution == record["execution"]["arn"]
    assert (row.action_type, row.confidence, row.outcome, row.reviewer) == (
        record["action_type"], record["confidence"], record["decision"], record["reviewer"])
    assert row.modified == (record["decision"] == "modified")
    assert (row.policy_version, row.risk, row.route, row.mode) == (
        record["policy"]["version"], record["facts"]["risk"], ROUTE_OF_MODE[record["mode"]], record["mode"])
    assert record["route"] == "pending"           # as the dispatcher writes it: the row names the gate


def test_a_canary_is_caught_when_modified_or_rejected_unless_the_record_says_otherwise():
    base = json.loads(decision_trail(1)[2].body)
    cases = [({"canary": True, "decision": "rejected"}, (True, True)),
             ({"canary": {"rule": "x"}, "decision": "approved"}, (True, False)),
             ({"canary": True, "decision": "approved", "caught": True}, (True, True)),
             ({"canary": False, "decision": "rejected"}, (False, None)),
             ({"decision": "modified"}, (False, None))]
    for change, expected in cases:
        record = {k: v for k, v in base.items() if k not in ("canary", "caught")}
        [row] = history.decisions([{**record, **change}])
        assert (row.canary, row.caught) == expected, change


def test_other_events_are_not_decisions():
    records = [json.loads(o.body) for o in decision_trail(5)]
    assert len(history.decisions(records)) == 5
    assert history.decisions([r for r in records if r["event"] != "decision_recorded"]) == []


def test_calibration_reads_every_decision_but_the_canaries():
    rows = history.decisions(records_of(decision_trail(300)))
    fed = history.calibration_rows(rows)
    real = [r for r in rows if not r.canary]
    assert len(fed) == len(real) < len(rows)
    assert all(isinstance(d, calibration.Decision) for d in fed)
    assert [(d.action_type, d.confidence, d.outcome, d.spot_check, d.reviewer, d.decided_at) for d in fed] == [
        (r.action_type, r.confidence, r.outcome, r.spot_check, r.reviewer, r.decided_at) for r in real]
    table = calibration.evidence_table([d for d in fed if d.action_type == "refund.issue"], floor=0.0)
    assert table[0].n == sum(r.action_type == "refund.issue" for r in real)
