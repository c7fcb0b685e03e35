"""The calibration rule: the bounds, the thresholds it chooses, the HOTL band, and demotion."""
from __future__ import annotations

import random

import pytest

from countersign.rules.calibration import (
    Decision, Evidence, Thresholds, drift_check, evidence_table, exact_lower, recommend, wilson_interval)

TYPE = "ticket.reply"


def rows(confidence: float, n: int, overrides: int = 0, *, spot_check: bool = False, start: int = 0,
         action_type: str = TYPE) -> list[Decision]:
    """n decisions at one confidence, the first ``overrides`` of them rejected, a minute apart."""
    return [Decision(action_type, confidence, "rejected" if i < overrides else "approved", spot_check, "alice",
                     f"2025-01-01T{(start + i) // 60:02d}:{(start + i) % 60:02d}:00+00:00") for i in range(n)]


@pytest.mark.parametrize("k, n, lower, upper", [
    (0, 10, 0.0, 0.2775), (1, 10, 0.0179, 0.4042), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0)])
def test_wilson_interval_matches_published_values(k, n, lower, upper):
    assert wilson_interval(k, n) == (pytest.approx(lower, abs=1e-4), pytest.approx(upper, abs=1e-4))


def test_with_no_overrides_the_bound_reaches_one_percent_at_381_decisions():
    assert wilson_interval(0, 380)[1] == pytest.approx(0.010008, abs=1e-6)
    assert wilson_interval(0, 381)[1] == pytest.approx(0.009982, abs=1e-6)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_clopper_pearson_lower_bound():
    assert exact_lower(1, 10, 0.95) == pytest.approx(0.0025286, abs=1e-7)     # 1 - 0.975 ** (1/10)
    assert exact_lower(0, 50) == 0.0
    assert [round(exact_lower(k, 50), 4) for k in range(1, 6)] == [0.0001, 0.0021, 0.0069, 0.0138, 0.0222]


def test_a_decision_refuses_an_unknown_outcome_or_confidence():
    with pytest.raises(ValueError, match="outcome"):
        Decision(TYPE, 0.9, "vetoed", False, "alice", "2025-01-01T00:00:00+00:00")
    with pytest.raises(ValueError, match="confidence"):
        Decision(TYPE, 1.2, "approved", False, "alice", "2025-01-01T00:00:00+00:00")


def test_evidence_counts_every_decision_at_or_above_each_candidate():
    history = rows(0.95, 10) + rows(0.8, 5, 2) + rows(0.4, 7, 7)
    assert [(e.threshold, e.n, e.overrides) for e in evidence_table(history, grid=[0.5, 0.9])] == [
        (0.5, 15, 2), (0.8, 15, 2), (0.9, 10, 0), (0.95, 10, 0)]


def test_thin_evidence_never_loosens_it_tightens_to_one():
    rec = recommend(TYPE, rows(0.95, 380), Thresholds(0.9))
    assert rec.recommended == Thresholds(1.0, 0.95)      # 380 clean: enough for the band, not for auto
    assert (rec.direction, rec.needs_human, rec.apply_now) == ("tighten", False, Thresholds(1.0, 0.95))
    assert "every action goes to a human" in rec.reason
    assert recommend(TYPE, rows(0.95, 99), Thresholds(0.9)).recommended == Thresholds(1.0, None)   # min_samples


def test_the_381st_clean_decision_lets_the_rule_auto_approve():
    assert recommend(TYPE, rows(0.95, 381), Thresholds(0.97)).recommended.auto == 0.95


def test_a_clean_high_confidence_history_loosens_to_the_lowest_qualifying_threshold():
    history = rows(0.95, 400) + rows(0.85, 200) + rows(0.7, 100, 10)
    rec = recommend(TYPE, history, Thresholds(0.9))
    assert rec.recommended == Thresholds(0.85, 0.7)
    assert rec.evidence == (Evidence(0.7, 700, 10, 10 / 700, pytest.approx(0.026095, abs=1e-6)),
                            Evidence(0.85, 600, 0, 0.0, pytest.approx(0.006362, abs=1e-6)),
                            Evidence(0.95, 400, 0, 0.0, pytest.approx(0.009512, abs=1e-6)))
    assert (rec.direction, rec.needs_human) == ("loosen", True)
    assert rec.apply_now == Thresholds(0.9)               # nothing to apply before a human approves
    assert rec.reason == "from 0.85: 0 overrides in 600 decisions, upper bound 0.0064 <= 0.01"


def test_overrides_near_the_threshold_tighten_at_once():
    history = rows(0.95, 500) + rows(0.85, 300, 6) + rows(0.8, 200, 10)
    rec = recommend(TYPE, history, Thresholds(0.8))
    assert rec.recommended == Thresholds(0.95, 0.8)       # 6/800 from 0.85: bound 0.0163 > 0.01
    assert (rec.direction, rec.needs_human, rec.apply_now) == ("tighten", False, Thresholds(0.95, 0.8))


def test_the_same_history_keeps_a_deployment_that_matches_it():
    history = rows(0.95, 500) + rows(0.85, 300, 6) + rows(0.8, 200, 10)
    rec = recommend(TYPE, history, Thresholds(0.95, 0.8))
    assert (rec.direction, rec.needs_human, rec.apply_now) == ("keep", False, Thresholds(0.95, 0.8))


def test_the_hotl_band_uses_the_looser_target_of_five_percent():
    history = rows(0.95, 500) + rows(0.7, 400, 28)         # from 0.7: 28/900, bound 0.0446
    assert recommend(TYPE, history, Thresholds(0.95)).recommended == Thresholds(0.95, 0.7)
    assert recommend(TYPE, history, Thresholds(0.95), veto_target_error=0.04).recommended == Thresholds(0.95, None)


def test_a_lower_band_with_a_higher_auto_threshold_needs_a_human_for_the_band_only():
    history = rows(0.97, 500) + rows(0.9, 200, 4) + rows(0.75, 200, 6)
    rec = recommend(TYPE, history, Thresholds(0.9))
    assert rec.recommended == Thresholds(0.97, 0.75)
    assert (rec.direction, rec.needs_human) == ("loosen", True)
    assert rec.apply_now == Thresholds(0.97, 0.9)         # auto up now; the band below 0.9 waits


def test_the_floor_the_grid_other_types_and_row_order():
    history = rows(0.6, 400) + rows(0.3, 400) + rows(0.6, 400, 400, action_type="crm.update")
    assert recommend(TYPE, history, Thresholds(0.9)).recommended.auto == 0.6
    assert recommend(TYPE, history, Thresholds(0.9), grid=[0.5, 0.55]).recommended.auto == 0.5
    shuffled = history[:]
    random.Random(7).shuffle(shuffled)
    assert recommend(TYPE, shuffled, Thresholds(0.9)) == recommend(TYPE, history, Thresholds(0.9))


def window(overrides_at: set[int], n: int = 50, confidence: float = 0.95) -> list[Decision]:
    return [Decision(TYPE, confidence, "modified" if i in overrides_at else "approved", True, "bob",
                     f"2025-01-02T{i // 60:02d}:{i % 60:02d}:00+00:00") for i in range(n)]


def test_four_overrides_in_the_last_fifty_spot_checks_demote():
    check = drift_check(TYPE, window({10, 20, 30, 40}), 0.9)
    assert (check.n, check.overrides, check.demote) == (50, 4, True)
    assert check.lower == pytest.approx(0.0138, abs=1e-4)
    assert check.demoted_to == Thresholds(1.0)
    assert check.since == "2025-01-02T00:00:00+00:00"


def test_three_do_not_and_a_stable_window_does_not():
    assert not drift_check(TYPE, window({10, 20, 30}), 0.9).demote
    assert not drift_check(TYPE, window(set(range(0, 500, 100)), n=500), 0.9).demote   # 1%: 1 in every 100


def test_two_in_ten_demote_while_the_window_fills():
    assert drift_check(TYPE, window({3, 7}, n=10), 0.9).demote
    assert not drift_check(TYPE, window({3}, n=10), 0.9).demote


def test_only_recent_spot_checks_at_or_above_the_threshold_count():
    old_overrides = window({45, 46, 47, 48, 49}, n=100)   # just outside the last 50 (in 60 they demote)
    assert not drift_check(TYPE, old_overrides, 0.9).demote
    below = window({10, 20, 30, 40}, confidence=0.85)
    assert drift_check(TYPE, below, 0.9).n == 0
    reviewed = [Decision(r.action_type, r.confidence, r.outcome, False, r.reviewer, r.decided_at)
                for r in window({10, 20, 30, 40})]
    assert not drift_check(TYPE, reviewed, 0.9).demote    # HITL decisions are not the auto zone's evidence


def band_history(older_overrides: int, recent_overrides: int, *, older: int = 300, confidence: float = 0.85) -> list[Decision]:
    """HITL decisions just below a 0.9 threshold: ``older`` of them, then the last 50."""
    return (rows(confidence, older, older_overrides)
            + rows(confidence, 50, recent_overrides, start=older))


def test_a_rise_in_the_fully_reviewed_band_just_below_the_threshold_demotes():
    check = drift_check(TYPE, band_history(3, 6), 0.9)    # 3/300 before (upper 0.029), then 6 in 50
    assert check.demote and check.demoted_to == Thresholds(1.0)
    assert check.n == 0                                   # not one spot check was needed
    below = check.below
    assert (below.n, below.overrides, below.since) == (50, 6, "2025-01-01T05:00:00+00:00")
    assert below.lower == pytest.approx(0.0319, abs=1e-4)
    assert below.bar == pytest.approx(0.0290, abs=1e-4)
    assert not drift_check(TYPE, band_history(3, 5), 0.9).demote    # 5 in 50: lower 0.022, under the bar


def test_a_band_that_was_always_above_the_target_does_not_demote_a_level_is_not_a_drift():
    steady = band_history(40, 5, older=400)               # 10% before and now: the threshold was placed above it
    check = drift_check(TYPE, steady, 0.9)
    assert not check.demote
    assert check.below.bar == pytest.approx(0.1333, abs=1e-4)


def test_the_band_needs_a_baseline_of_min_samples_older_decisions():
    thin = band_history(0, 20, older=99)                  # 20 in 50, but only 99 older decisions to compare with
    assert drift_check(TYPE, thin, 0.9).below.bar == 1.0
    assert not drift_check(TYPE, thin, 0.9).demote
    assert drift_check(TYPE, thin, 0.9, min_samples=50).demote


def test_only_the_band_counts_and_band_zero_reads_spot_checks_only():
    history = band_history(3, 6)
    assert drift_check(TYPE, history, 0.9).below.n == 50  # 0.85 is in [0.7, 0.9)
    assert not drift_check(TYPE, history, 0.9, band=0.04).demote    # not in [0.86, 0.9)
    assert drift_check(TYPE, history, 1.0, band=0.04).below.n == 0
    check = drift_check(TYPE, history, 0.9, band=0.0)
    assert (check.demote, check.below) == (False, None)


def test_a_threshold_of_one_has_nothing_to_demote():
    assert drift_check(TYPE, band_history(3, 6, confidence=0.95), 0.99).demote
    check = drift_check(TYPE, band_history(3, 6, confidence=0.95), 1.0)   # everything already goes to a human
    assert (check.demote, check.demoted_to, check.below.n) == (False, None, 50)
    assert not drift_check(TYPE, window({10, 20, 30, 40}, confidence=1.0), 1.0).demote
