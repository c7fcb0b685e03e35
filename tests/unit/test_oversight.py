"""The oversight report's facts from records: curves with their intervals, thresholds deployed and in
effect, the threshold history, load, vigilance and reasons."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from countersign.cli.oversight_report import charts
from countersign.evidence import oversight
from countersign.rules.policy import build_document
from tests.fixtures.synthetic_trail import vigilance_trail
from tests.unit.builders import REVIEWERS, policy_source

TODAY = datetime(2026, 11, 28, tzinfo=timezone.utc)


def records() -> list[dict]:
    found = [json.loads(body) for _, body in vigilance_trail(TODAY)]
    found.append({"event": "autonomy_changed", "recorded_at": "2026-11-28T12:00:00.000Z", "target": "refund.issue",
                  "kind": "approved", "actor": "system:conclude", "decided_by": "alice", "execution": "arn:aws:x",
                  "from": {"auto_approve_threshold": 0.95, "veto_threshold": None},
                  "to": {"auto_approve_threshold": 0.85, "veto_threshold": None},
                  "policy": {"deployed_version": "d", "version": "e"}})
    return found


def test_the_curve_counts_each_band_with_its_interval_and_leaves_canaries_out():
    facts = oversight.assemble(records(), build_document(policy_source(), set(REVIEWERS)))
    refund = next(t for t in facts["action_types"] if t["action_type"] == "refund.issue")
    [band] = refund["curve"]                      # every synthetic decision is at 0.8
    assert (band["band"], band["n"]) == ("0.80-0.85", 89)            # 91 decisions, two of them canaries
    assert band["overrides"] == 9 + 9           # erin rejects 9 of 19, frank modifies 9; dora overrides nothing
    assert band["lower"] < band["rate"] < band["upper"]
    assert refund["deployed"]["auto_approve_threshold"] == 0.95 and refund["effective"]["auto_approve_threshold"] == 0.85
    assert [h["by"] for h in refund["history"]] == ["alice"]
    assert dict(refund["reasons"]) == {"none given": 18}


def test_vigilance_flags_and_load_are_in_the_facts_and_the_charts_draw_them():
    facts = oversight.assemble(records(), None)
    assert {(a["reviewer"], tuple(a["flags"])) for a in facts["attention"]} >= {("dora", ("rubber_stamp", "fast"))}
    assert sum(d["decisions"] for d in facts["load"]) == facts["decisions"] == 89
    refund = next(t for t in facts["action_types"] if t["action_type"] == "refund.issue")
    assert refund["deployed"] is None and refund["effective"]["auto_approve_threshold"] == 0.85   # no policy read
    drawn = charts(facts)
    assert len(drawn["curves"][0]["points"]) == 1 and [m["name"] for m in drawn["curves"][0]["marks"]] == ["effective"]
