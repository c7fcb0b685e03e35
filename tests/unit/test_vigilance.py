"""Reviewer vigilance from the decision history: rates, dwell, canaries, and the three flags at
their boundaries."""
from __future__ import annotations

import pytest

from countersign.evidence import history, vigilance
from countersign.evidence.compliance.figures import records_of
from countersign.evidence.history import HistoryRow
from tests.fixtures.synthetic_trail import decision_trail


def row(outcome="approved", reviewer="alice", action_type="refund.issue", dwell=12.0, canary=False, caught=None,
        n=0) -> HistoryRow:
    return HistoryRow(f"rv-{n:020x}", "arn:x", action_type, 0.8, outcome, outcome == "modified", None, reviewer,
                      dwell, False, canary, caught, f"2026-11-01T00:{n // 60:02d}:{n % 60:02d}Z", "v1", "low",
                      "human_review", "review")


def rows(approved: int, overridden: int = 0, **kw) -> list[HistoryRow]:
    return [row("approved", n=i, **kw) for i in range(approved)] + \
           [row("rejected", n=approved + i, **kw) for i in range(overridden)]


@pytest.mark.parametrize("approved, overridden, flagged", [
    (50, 0, True), (49, 1, True), (48, 2, False), (49, 0, False), (98, 2, True), (97, 3, False)])
def test_rubber_stamp_is_98_percent_approvals_over_at_least_50_decisions(approved, overridden, flagged):
    [line] = vigilance.watch(rows(approved, overridden))
    assert line.decisions == approved + overridden and line.rubber_stamp is flagged
    assert ("rubber_stamp" in line.flags) is flagged


@pytest.mark.parametrize("dwells, median, fast", [
    ([4.0, 4.9, 30.0], 4.9, True), ([5.0, 5.0, 1.0], 5.0, False), ([1.0, 2.0, 60.0, 90.0], 31.0, False)])
def test_fast_is_a_median_dwell_under_the_floor_and_the_share_counts_each_quick_decision(dwells, median, fast):
    [line] = vigilance.watch([row(dwell=d, n=i) for i, d in enumerate(dwells)])
    assert (line.median_dwell, line.fast) == (median, fast)
    assert line.fast_share == sum(d < 5 for d in dwells) / len(dwells)


def test_decisions_without_a_rendering_stamp_count_but_have_no_dwell():
    [line] = vigilance.watch([row(dwell=None, n=0), row(dwell=None, n=1), row("modified", dwell=20.0, n=2)])
    assert (line.decisions, line.timed, line.median_dwell, line.fast_share, line.fast) == (3, 1, 20.0, 0.0, False)
    [blind] = vigilance.watch([row(dwell=None)])
    assert (blind.median_dwell, blind.fast_share, blind.fast) == (None, None, False)


def test_rates_and_canaries_per_reviewer_and_action_type():
    lines = vigilance.watch([row("approved", n=0), row("modified", n=1), row("rejected", n=2),
                             row("rejected", canary=True, caught=True, n=3),
                             row("approved", canary=True, caught=False, n=4),
                             row("approved", reviewer="bob", n=5), row("approved", action_type="key.rotate", n=6)])
    assert [(x.reviewer, x.action_type) for x in lines] == [("alice", "key.rotate"), ("alice", "refund.issue"),
                                                            ("bob", "refund.issue")]
    alice = lines[1]
    assert (alice.decisions, alice.approved, alice.modified, alice.rejected) == (5, 2, 1, 2)
    assert (alice.approve_rate, alice.modify_rate, alice.reject_rate) == (0.4, 0.2, 0.4)
    assert (alice.canaries, alice.caught, alice.missed, alice.missed_canary) == (2, 1, 1, True)
    assert alice.flags == ("missed_canary",)
    assert vigilance.attention(lines) == [alice]
    assert alice.to_dict()["flags"] == ["missed_canary"]


def test_the_watch_reads_the_history_of_a_whole_trail():
    lines = vigilance.watch(history.decisions(records_of(decision_trail(400))))
    assert sum(x.decisions for x in lines) == 400
    assert sum(x.canaries for x in lines) == sum(x.caught + x.missed for x in lines) > 0
    assert {x.reviewer for x in lines} == {"alice", "bob", "ps-0123456789abcdef01234567"}
