"""Graduated autonomy's rules: the effective policy and its version, and an approved change applied
once, only on the state it was proposed against, with its record never lost to a crash."""
from __future__ import annotations

import json

import pytest

from countersign.adapters.deps import Deps
from countersign.rules.autonomy import AUTONOMY, effective, thresholds_of
from countersign.rules.calibration import Decision, Thresholds
from countersign.rules.policy import build_document, rules_for
from countersign.workflow import calibrator
from tests.unit.builders import REVIEWERS, policy_source
from tests.unit.test_audit import FakeStore

ARN = "arn:aws:states:us-east-1:123456789012:execution:countersign-test-approval-gate:autonomy-1"


class MemoryAutonomy:
    """The adjustments item, with DynamoDB's conditional write on its version."""

    def __init__(self) -> None:
        self.version, self.adjustments, self.journal = 0, {}, []
        self.fail_next_replace = False

    def current(self):
        return self.version, json.loads(json.dumps(self.adjustments)), json.loads(json.dumps(self.journal))

    def replace(self, version, adjustments, journal):
        if self.fail_next_replace:
            self.fail_next_replace = False
            raise ConnectionError("the process died before the write")
        if version != self.version:
            return False
        self.version, self.adjustments, self.journal = version + 1, adjustments, journal
        return True


class Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, reviewer: str, subject: str, body: str) -> None:
        self.sent.append((reviewer, subject))


def document() -> dict:
    return build_document(policy_source(), set(REVIEWERS), autonomy_review={"reviewers": REVIEWERS, "quorum": 2})


def deps(store: MemoryAutonomy | None = None) -> Deps:
    doc = document()
    return Deps(audit=FakeStore(), load_policy=lambda: doc, autonomy=store or MemoryAutonomy(),
                reviewers=tuple(REVIEWERS), notifier=Outbox())


def records(d: Deps) -> list[dict]:
    return [json.loads(body) for _, body in sorted(d.audit.objects.items())]


def approved_change(auto: float, basis: Thresholds) -> dict:
    return {"type": AUTONOMY, "summary": "x", "parameters": {
        "action_type": "refund.issue", "auto_approve_threshold": auto, "veto_threshold": None,
        "basis": {"auto_approve_threshold": basis.auto, "veto_threshold": basis.veto, "policy_version": "v"}}}


def test_without_adjustments_the_deployed_policy_is_the_effective_one():
    doc = document()
    assert effective(doc, {}) is doc


def test_an_adjustment_moves_only_its_action_type_and_the_version_covers_both():
    doc = document()
    eff = effective(doc, {"refund.issue": {"auto_approve_threshold": 0.8, "veto_threshold": None}})
    assert thresholds_of(eff, "refund.issue") == Thresholds(0.8)
    assert rules_for(eff, "refund.issue", REVIEWERS).auto_approve_threshold == 0.8
    others = [t for t in doc["action_types"] if t not in ("refund.issue", AUTONOMY)]
    assert all(thresholds_of(eff, t) == thresholds_of(doc, t) for t in others)
    assert eff["version"] != doc["version"] and eff["deployed_version"] == doc["version"]
    again = effective(doc, {"refund.issue": {"auto_approve_threshold": 0.85, "veto_threshold": None}})
    assert again["version"] != eff["version"]           # a different adjustment is a different policy


def test_an_adjustment_for_a_type_no_longer_deployed_or_for_the_builtin_is_ignored():
    doc = document()
    assert effective(doc, {"gone.type": {"auto_approve_threshold": 0.5, "veto_threshold": None},
                           AUTONOMY: {"auto_approve_threshold": 0.5, "veto_threshold": None}}) is doc


def test_the_builtin_never_auto_approves_and_inherits_nothing_from_default():
    source = policy_source()
    source["default"].update(executor="arn:aws:lambda:us-east-1:123456789012:function:runs-everything",
                             auto_approve_threshold=0.5)
    rules = rules_for(build_document(source, set(REVIEWERS), autonomy_review={"reviewers": ["bob"], "quorum": 1}), AUTONOMY, REVIEWERS)
    assert (rules.auto_approve_threshold, rules.executor, rules.quorum, rules.reviewers) == (1.0, None, 1, ("bob",))


def test_an_approval_applies_once_even_when_conclude_retries():
    d = deps()
    basis = thresholds_of(document(), "refund.issue")
    assert calibrator.apply_approved(approved_change(0.8, basis), ARN, "alice", d) is None
    assert calibrator.apply_approved(approved_change(0.8, basis), ARN, "alice", d) is None   # the retry
    assert d.autonomy.adjustments["refund.issue"]["auto_approve_threshold"] == 0.8
    [record] = records(d)
    assert (record["event"], record["kind"], record["execution"]) == ("autonomy_changed", "approved", ARN)
    assert d.autonomy.journal == []


def test_an_approval_that_arrives_after_a_demotion_is_not_applied():
    d = deps()
    basis = thresholds_of(document(), "refund.issue")
    d.autonomy.adjustments = {"refund.issue": {"auto_approve_threshold": 1.0, "veto_threshold": None, "by": "x"}}
    note = calibrator.apply_approved(approved_change(0.8, basis), ARN, "alice", d)
    assert note.startswith("not applied: refund.issue's thresholds changed since this was proposed")
    assert d.autonomy.adjustments["refund.issue"]["auto_approve_threshold"] == 1.0


def test_a_crash_between_the_change_and_its_record_loses_nothing():
    d = deps()
    rows = [Decision("refund.issue", 0.97, "rejected", True, "alice", f"2026-11-29T10:00:0{i}Z") for i in range(4)]
    original_flush = calibrator.flush
    calls = {"n": 0}

    def dies_after_the_write(deps_):
        calls["n"] += 1
        if calls["n"] == 2:                      # the flush right after the demotion's write
            raise ConnectionError("the process died after the write")
        return original_flush(deps_)

    calibrator.flush = dies_after_the_write
    try:
        with pytest.raises(ConnectionError):
            calibrator.run(d, rows, only="refund.issue")
    finally:
        calibrator.flush = original_flush
    assert d.autonomy.adjustments["refund.issue"]["kind"] == "demoted" and len(d.autonomy.journal) == 1
    assert records(d) == []
    calibrator.run(d, rows, only="refund.issue")       # the next run finishes it, and does not demote twice
    assert [r["event"] for r in records(d)] == ["autonomy_demoted"] and d.autonomy.journal == []
    assert d.notifier.sent == [(r, "Countersign: refund.issue demoted to human review") for r in REVIEWERS]
