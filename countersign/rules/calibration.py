"""Calibrating the oversight policy on its correction history.

The rule, per action type. A threshold ``t`` is judged on the reviewed proposals with confidence
``>= t`` (HITL decisions and auto-zone spot checks alike; a veto window that lapsed is not a
review and is not a row). An *override* is a reviewer's ``modified`` or ``rejected``.

- ``auto_approve_threshold``: the lowest candidate ``t >= floor`` with at least ``min_samples``
  decisions whose override rate has a 95% Wilson upper bound ``<= target_error``; none: 1.0.
- ``veto_threshold``: the same rule with ``veto_target_error``, kept only if below the auto threshold.
- Moving a boundary down gives the model more autonomy (``loosen``): a human must approve it.
  Moving one up (``tighten``) is applied at once.
- Demotion: every action goes to a human (auto 1.0, no band) at once, and later calibration uses
  only decisions made after it, when a recent window's override rate has a 99% Clopper-Pearson
  *lower* bound above its bar (the evidence says the zone got worse, not merely that it is
  unproven): the last ``window`` spot checks at or above the deployed threshold against
  ``target_error``, or the last ``window`` decisions in the ``band`` just below it (fully
  reviewed, so ten times denser) against the larger of ``target_error`` and the 95% upper bound
  of the same band's older decisions.

Pure functions, no AWS; the result does not depend on the order of the rows.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Iterable, Sequence

from countersign.rules.autonomy import NEVER, Thresholds
from countersign.rules.policy import MIN_SAMPLES, TARGET_ERROR

OUTCOMES = ("approved", "modified", "rejected")
OVERRIDES = frozenset({"modified", "rejected"})
Z95 = 1.959963984540054      # two-sided 95%: the bound a threshold must meet
DRIFT_CONFIDENCE = 0.99      # two-sided: the exact lower bound a demotion must clear

# The veto band runs unless a reviewer vetoes in the window. If vetoes catch 80% of the band's
# errors, 5% errors there leave 1% escaping: the same as the auto zone's target.
VETO_TARGET_ERROR = 0.05
FLOOR = 0.5                  # never recommend auto-approving below an even-odds confidence
# 50 spot checks: 4 overrides among them demote, 3 do not (2 of 10 do). The exact bound, because
# Wilson's lower bound is too eager at small counts (1 override in 10 would clear 0.01). A stable
# auto zone with 0.5% overrides demotes about once in 50,000 spot checks; at 9% overrides the
# median is about 30 spot checks.
DRIFT_WINDOW = 50
# The band just below the threshold is reviewed in full, so a drift that moves the whole curve shows
# there first. Its own rate may sit above target_error by design (the threshold is where the pooled
# zone above meets it), so its bar is what the band did before: a rise, not a level, demotes.
# 0.2, measured in bench/simulate.py: at 0.1 the band held too few decisions (up to 302 from a
# drift to the demotion), at 0.2 at most 149; neither demoted anything else in 10 seeds.
DRIFT_BAND = 0.2


@dataclass(frozen=True)
class Decision:
    """A reviewer's decision on one proposal: one row of the correction history."""

    action_type: str
    confidence: float
    outcome: str                 # approved | modified | rejected
    spot_check: bool             # an auto-zone proposal sampled for review
    reviewer: str
    decided_at: str              # ISO 8601 UTC; orders the drift window

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {self.outcome!r}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], not {self.confidence!r}")

    @property
    def override(self) -> bool:
        return self.outcome in OVERRIDES


def wilson_interval(overrides: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``overrides / n``; (0, 1) when n is 0."""
    if not 0 <= overrides <= n:
        raise ValueError(f"need 0 <= overrides <= n, got {overrides} of {n}")
    if n == 0:
        return 0.0, 1.0
    p, z2 = overrides / n, z * z
    centre = p + z2 / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    scale = 1 + z2 / n
    lower = 0.0 if overrides == 0 else (centre - half) / scale
    upper = 1.0 if overrides == n else (centre + half) / scale
    return lower, upper


@lru_cache(maxsize=4096)
def exact_lower(overrides: int, n: int, confidence: float = DRIFT_CONFIDENCE) -> float:
    """The Clopper-Pearson lower bound: the p at which P(X >= overrides) = (1 - confidence) / 2."""
    if not 0 <= overrides <= n:
        raise ValueError(f"need 0 <= overrides <= n, got {overrides} of {n}")
    if overrides == 0:
        return 0.0
    tail_target, lo, hi = (1 - confidence) / 2, 0.0, 1.0
    for _ in range(60):                                   # bisection to below 1e-17
        mid = (lo + hi) / 2
        if _upper_tail(overrides, n, mid) < tail_target:
            lo = mid
        else:
            hi = mid
    return lo


def _upper_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), 0 < k <= n, summed in log space."""
    log_p, log_q = math.log(p), math.log1p(-p)
    return min(1.0, sum(math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                                 + i * log_p + (n - i) * log_q) for i in range(k, n + 1)))


@dataclass(frozen=True)
class Evidence:
    """The reviewed proposals with confidence >= threshold."""

    threshold: float
    n: int
    overrides: int
    rate: float
    upper: float                 # 95% Wilson upper bound of the override rate


def evidence_table(rows: Iterable[Decision], floor: float = FLOOR,
                   grid: Iterable[float] = ()) -> tuple[Evidence, ...]:
    """One line per candidate threshold (the distinct confidences and ``grid`` values >= floor),
    ascending."""
    counts: dict[float, list[int]] = {}
    for row in rows:
        tally = counts.setdefault(row.confidence, [0, 0])
        tally[0] += 1
        tally[1] += row.override
    candidates = sorted({c for c in counts if c >= floor} | {g for g in grid if floor <= g <= NEVER})
    observed = sorted(counts, reverse=True)
    table, n, k, i = [], 0, 0, 0
    for t in reversed(candidates):
        while i < len(observed) and observed[i] >= t:
            n, k, i = n + counts[observed[i]][0], k + counts[observed[i]][1], i + 1
        table.append(Evidence(t, n, k, k / n if n else 0.0, wilson_interval(k, n)[1]))
    return tuple(reversed(table))


def lowest_qualifying(table: Sequence[Evidence], target: float, min_samples: int = MIN_SAMPLES) -> float | None:
    """The lowest threshold whose evidence has ``n >= min_samples`` and ``upper <= target``."""
    return next((e.threshold for e in table if e.n >= min_samples and e.upper <= target), None)


@dataclass(frozen=True)
class Recommendation:
    """What the history supports for one action type, against what is deployed."""

    action_type: str
    deployed: Thresholds
    recommended: Thresholds
    direction: str               # loosen | tighten | keep
    needs_human: bool            # loosen: a policy.autonomy proposal through the gate
    apply_now: Thresholds        # the tightening part, applied without waiting for a human
    evidence: tuple[Evidence, ...]
    reason: str


def recommend(action_type: str, rows: Iterable[Decision], deployed: Thresholds, *,
              target_error: float = TARGET_ERROR, veto_target_error: float = VETO_TARGET_ERROR,
              min_samples: int = MIN_SAMPLES, floor: float = FLOOR, grid: Iterable[float] = ()) -> Recommendation:
    """Apply the rule to ``action_type``'s rows (others are ignored) and compare with ``deployed``."""
    table = evidence_table([r for r in rows if r.action_type == action_type], floor, grid)
    auto = lowest_qualifying(table, target_error, min_samples)
    veto = lowest_qualifying(table, veto_target_error, min_samples)
    recommended = Thresholds(NEVER if auto is None else auto,
                             veto if veto is not None and veto < (NEVER if auto is None else auto) else None)
    moves = [(recommended.auto > deployed.auto) - (recommended.auto < deployed.auto),
             (recommended.band_floor > deployed.band_floor) - (recommended.band_floor < deployed.band_floor)]
    direction = "loosen" if -1 in moves else "tighten" if 1 in moves else "keep"
    now_auto = max(deployed.auto, recommended.auto)
    now_floor = max(deployed.band_floor, recommended.band_floor)
    apply_now = Thresholds(now_auto, now_floor if now_floor < now_auto else None)
    if auto is None:
        reason = (f"no threshold >= {floor:g} has {min_samples}+ decisions with an override bound "
                  f"<= {target_error:g}: every action goes to a human")
    else:
        line = next(e for e in table if e.threshold == auto)
        reason = (f"from {auto:g}: {line.overrides} overrides in {line.n} decisions, "
                  f"upper bound {line.upper:.4f} <= {target_error:g}")
    return Recommendation(action_type, deployed, recommended, direction, direction == "loosen",
                          apply_now, table, reason)


@dataclass(frozen=True)
class Window:
    """The recent reviewed decisions of one region, against the bar they must stay under."""

    n: int
    overrides: int
    rate: float
    lower: float                 # 99% Clopper-Pearson lower bound of the override rate
    bar: float                   # demote when lower > bar; 1.0: no bar (a thin baseline)
    since: str | None            # decided_at of the oldest decision in the window

    @property
    def demote(self) -> bool:
        return self.lower > self.bar


@dataclass(frozen=True)
class DriftCheck:
    """The recent auto-zone spot checks at the deployed threshold, the decisions just below it,
    and whether they demote it."""

    action_type: str
    threshold: float
    n: int
    overrides: int
    rate: float
    lower: float                 # 99% Clopper-Pearson lower bound of the override rate
    demote: bool
    since: str | None            # decided_at of the oldest spot check in the window
    demoted_to: Thresholds | None
    below: Window | None = None  # the band just below the threshold (None: band 0)


def _order(row: Decision) -> tuple:
    return row.decided_at, row.confidence, row.outcome, row.reviewer


def _recent(rows: list[Decision], window: int, confidence: float, bar: float = NEVER) -> Window:
    """The last ``window`` rows against ``bar``."""
    last = heapq.nlargest(window, rows, key=_order)
    n, k = len(last), sum(r.override for r in last)
    return Window(n, k, k / n if n else 0.0, exact_lower(k, n, confidence), bar, last[-1].decided_at if last else None)


def drift_check(action_type: str, rows: Iterable[Decision], threshold: float, *,
                target_error: float = TARGET_ERROR, window: int = DRIFT_WINDOW,
                confidence: float = DRIFT_CONFIDENCE, band: float = DRIFT_BAND,
                min_samples: int = MIN_SAMPLES) -> DriftCheck:
    """Demote (auto 1.0, no band) when, at ``confidence``, the last ``window`` spot checks at or
    above ``threshold`` show an override rate above ``target_error``, or the last ``window``
    decisions in [threshold - band, threshold) one above both ``target_error`` and the 95% upper
    bound of that band's older decisions (which need ``min_samples``; fewer: no bar). A threshold
    of 1.0 has nothing to demote."""
    mine = [r for r in rows if r.action_type == action_type]
    spots = _recent([r for r in mine if r.spot_check and r.confidence >= threshold], window, confidence)
    below = None
    if band > 0:
        region = [r for r in mine if threshold - band <= r.confidence < threshold]
        below = _recent(region, window, confidence)
        older_n, older_k = len(region) - below.n, sum(r.override for r in region) - below.overrides
        if older_n >= min_samples:
            below = replace(below, bar=max(target_error, wilson_interval(older_k, older_n)[1]))
    demote = threshold < NEVER and (spots.lower > target_error or (below is not None and below.demote))
    return DriftCheck(action_type, threshold, spots.n, spots.overrides, spots.rate, spots.lower, demote,
                      spots.since, Thresholds(NEVER) if demote else None, below)
