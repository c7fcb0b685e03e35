"""The calibration rule against a static 0.9 threshold, on seeded synthetic streams.

The world (fixed before the first run; assumptions stated so they can be disputed):
- 40,000 proposals per seed from four action types (shares 40/25/20/15%). Confidences are drawn
  from a Beta distribution per type and reported at two decimals.
- Ground truth: P(wrong | confidence c) = floor + slope * (1 - c), per type. A calibrated model has
  slope 1; ``ticket.reply`` and ``notice.send`` are underconfident (slope 0.05, 0.1),
  ``crm.update`` less so (0.3), ``email.draft`` is calibrated (1.0).
- Drift: at proposal 20,000, ``ticket.reply`` gets 10 points less accurate at every confidence.
- Reviewers (the same for every route) catch 90% of wrong actions (modify or reject) and
  override 0.2% of right ones anyway (edits that fix nothing); both count as overrides.
- Every action type is reversible and medium risk; the HOTL band is not routed (a veto's catch
  rate is not modelled), so every arm only auto-approves or asks a human.

The arms see the same proposals, draws and reviewer behaviour:
- static: auto-approve at confidence >= 0.9, no spot checks.
- oracle: per type, the lowest threshold whose true error rate over the proposals it would
  auto-approve is <= 1%, switched at the drift instantly; no spot checks. No rule can do better
  while holding the auto zone to 1%: it bounds what the calibrator could save in this world.
- calibrated: starts at the deployed 0.9 with no history; spot-checks 10% of the auto zone;
  every 500 proposals each type gets ``calibration.recommend`` on its history, a loosening
  applied as if a human had approved it and a tightening at once; after every 10th human
  decision of a type, ``calibration.drift_check`` may demote it (auto 1.0), and its history
  restarts.

Measured per seed, as the issue defines them:
- reviews: human decisions (HITL and spot checks) per 1,000 proposals.
- escaped errors: wrong actions auto-approved (not spot-checked) per 1,000 proposals, with the
  95% Wilson upper bound over the seed's proposals. Wrong actions a reviewer saw and approved are
  reviewer misses, reported apart: no threshold removes them.
- drift to demotion: the drifting type's human decisions from the drift until its auto threshold
  is 1.0 (0 if it already was), whether the drift check or a recalibration put it there.
- other demotions: the drift check's, besides the drifting type's after the drift (noise, or a
  zone the deployed threshold made unsafe; the count does not tell them apart).

Run:  python bench/simulate.py [--seeds 10] [--world mixed|premise]   (a table, then one line per target; exit 0)
      python bench/simulate.py --variants  (one line per way to run the loop in VARIANTS)
      python bench/simulate.py --sweep [--seeds 10]  (one line per world in the sensitivity grid beside premise)
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from countersign.rules import calibration as cal  # noqa: E402

PROPOSALS, DRIFT_AT, DRIFT_TYPE, DRIFT_POINTS = 40_000, 20_000, "ticket.reply", 0.10
STATIC = START = 0.9
CATCH, FALSE_OVERRIDE = 0.90, 0.002
# name: (share, beta a, beta b, error floor, error slope)
WORLDS = {
    # the world fixed before the first run: 0.9 is unsafe for crm.update and email.draft
    "mixed": {"ticket.reply": (0.40, 7, 2, 0.001, 0.05), "notice.send": (0.25, 6, 2, 0.002, 0.10),
              "crm.update": (0.20, 9, 1.5, 0.002, 0.30), "email.draft": (0.15, 4, 2, 0.0, 1.0)},
    # the world the reviews target presumes (the seed's "reviewer time wasted on decisions the model
    # handles reliably"): declared before it was run, one change only: the two types for which 0.9
    # was unsafe are as underconfident as notice.send (slope 0.10); everything else is the same
    "premise": {"ticket.reply": (0.40, 7, 2, 0.001, 0.05), "notice.send": (0.25, 6, 2, 0.002, 0.10),
                "crm.update": (0.20, 9, 1.5, 0.002, 0.10), "email.draft": (0.15, 4, 2, 0.0, 0.10)},
}
TYPES = dict(WORLDS["mixed"])     # the world in use (--world)
# --sweep: a sensitivity grid beside the declared worlds, not a world to judge the targets on.
# Each is premise with every type's error slope replaced by one of these, drift on or off.
SWEEP_SLOPES = (0.10, 0.05, 0.02, 0.01)
EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Loop:
    """How the calibrated arm runs the rule."""

    spot_rate: float = 0.10
    recalibrate_every: int = 500      # proposals
    check_every: int = 10             # human decisions of a type
    band: float = cal.DRIFT_BAND      # 0: the drift check reads spot checks only
    hold_deployed: bool = False       # keep the deployed threshold until min_samples reviews above it
    lookback: int = 2000              # the drift check reads the type's last this many decisions


def p_wrong(name: str, c: float, i: int) -> float:
    _, _, _, floor, slope = TYPES[name]
    return min(1.0, floor + slope * (1 - c) + (DRIFT_POINTS if name == DRIFT_TYPE and i >= DRIFT_AT else 0.0))


def stream(seed: int) -> list[tuple]:
    """(type, confidence, wrong, review draw, spot draw, reviewer, P(wrong)) per proposal."""
    rng = random.Random(seed)
    names, shares = list(TYPES), [t[0] for t in TYPES.values()]
    out = []
    for i in range(PROPOSALS):
        name = rng.choices(names, shares)[0]
        _, a, b, _, _ = TYPES[name]
        c = round(rng.betavariate(a, b), 2)
        p = p_wrong(name, c, i)
        out.append((name, c, rng.random() < p, rng.random(), rng.random(), rng.choice("abc"), p))
    return out


def review(wrong: bool, draw: float) -> str:
    """The reviewer's outcome: a caught error is modified or rejected; a miss is approved."""
    if wrong:
        return ("modified" if draw < CATCH / 2 else "rejected") if draw < CATCH else "approved"
    return "modified" if draw < FALSE_OVERRIDE else "approved"


def auto_approves(confidence: float, threshold: float) -> bool:
    """As the workflow routes: at or above the threshold, and a threshold of 1.0 never does."""
    return confidence >= threshold and threshold < cal.NEVER


def tally(proposals: list[tuple], threshold) -> dict:
    """Reviews, escapes and misses of an arm without spot checks; ``threshold(i, name)``."""
    reviews = escaped = missed = 0
    for i, (name, c, wrong, draw, *_) in enumerate(proposals):
        if auto_approves(c, threshold(i, name)):
            escaped += wrong
        else:
            reviews += 1
            missed += wrong and review(wrong, draw) == "approved"
    return {"reviews": reviews, "escaped": escaped, "missed": missed}


def oracle_thresholds(proposals: list[tuple]) -> dict[tuple[str, bool], float]:
    """Per type and phase (after the drift or not): the lowest t whose true error over c >= t is <= 1%."""
    out = {}
    for name in TYPES:
        for after in (False, True):
            ps = sorted((c, p) for i, (n, c, *_, p) in enumerate(proposals) if n == name and (i >= DRIFT_AT) == after)
            out[name, after], total, errors = cal.NEVER, 0, 0.0
            for j in range(len(ps) - 1, -1, -1):
                total, errors = total + 1, errors + ps[j][1]
                if (j == 0 or ps[j - 1][0] < ps[j][0]) and errors / total <= cal.TARGET_ERROR:
                    out[name, after] = ps[j][0]
    return out


def run_calibrated(proposals: list[tuple], loop: Loop) -> dict:
    deployed = {name: cal.Thresholds(START) for name in TYPES}
    history: dict[str, list[cal.Decision]] = {name: [] for name in TYPES}
    reviews = escaped = missed = drift_decisions = 0
    demotions: list[tuple[str, int]] = []         # by the drift check
    demoted_by = None                             # how the drifting type reached 1.0 after the drift
    for i, (name, c, wrong, draw, spot_draw, who, _) in enumerate(proposals):
        if i and i % loop.recalibrate_every == 0:
            for t in TYPES:
                if loop.hold_deployed and sum(r.confidence >= START for r in history[t]) < cal.MIN_SAMPLES:
                    continue
                deployed[t] = cal.recommend(t, history[t], deployed[t]).recommended
        if i == DRIFT_AT and deployed[DRIFT_TYPE].auto == cal.NEVER:
            demoted_by = "already 1.0"
        if i >= DRIFT_AT and demoted_by is None and deployed[DRIFT_TYPE].auto == cal.NEVER:
            demoted_by = "recalibration"
        auto = auto_approves(c, deployed[name].auto)
        spot = auto and spot_draw < loop.spot_rate
        if auto and not spot:
            escaped += wrong
            continue
        reviews += 1
        drift_decisions += name == DRIFT_TYPE and i >= DRIFT_AT and demoted_by is None
        outcome = review(wrong, draw)
        missed += wrong and outcome == "approved"
        history[name].append(cal.Decision(name, c, outcome, spot, f"reviewer-{who}",
                                          (EPOCH + timedelta(minutes=i)).isoformat()))
        if len(history[name]) % loop.check_every == 0 and \
                cal.drift_check(name, history[name][-loop.lookback:], deployed[name].auto, band=loop.band).demote:
            demotions.append((name, i))
            deployed[name], history[name] = cal.Thresholds(cal.NEVER), []
            if name == DRIFT_TYPE and i >= DRIFT_AT and demoted_by is None:
                demoted_by = "drift check"
    true = [at for t, at in demotions if t == DRIFT_TYPE and at >= DRIFT_AT]
    return {"reviews": reviews, "escaped": escaped, "missed": missed, "demoted_by": demoted_by,
            "drift_decisions": drift_decisions if demoted_by else float("inf"),
            "other_demotions": len(demotions) - min(1, len(true)),
            "final": {t: deployed[t].auto for t in TYPES}}


def per_1000(count: int) -> float:
    return 1000 * count / PROPOSALS


def upper_1000(count: int) -> float:
    return 1000 * cal.wilson_interval(count, PROPOSALS)[1]


def measure(seeds: int, loop: Loop) -> list[dict]:
    rows = []
    for seed in range(seeds):
        proposals = stream(seed)
        static = tally(proposals, lambda i, name: STATIC)
        best = oracle_thresholds(proposals)
        oracle = tally(proposals, lambda i, name: best[name, i >= DRIFT_AT])
        calibrated = run_calibrated(proposals, loop)
        rows.append({
            "static: reviews /1000": per_1000(static["reviews"]),
            "oracle: reviews /1000": per_1000(oracle["reviews"]),
            "calibrated: reviews /1000": per_1000(calibrated["reviews"]),
            "oracle: fewer reviews than static %": 100 * (1 - oracle["reviews"] / static["reviews"]),
            "calibrated: fewer reviews than static %": 100 * (1 - calibrated["reviews"] / static["reviews"]),
            "static: escaped /1000": per_1000(static["escaped"]),
            "static: escaped 95% upper /1000": upper_1000(static["escaped"]),
            "calibrated: escaped /1000": per_1000(calibrated["escaped"]),
            "calibrated: escaped 95% upper /1000": upper_1000(calibrated["escaped"]),
            "static: reviewer misses /1000": per_1000(static["missed"]),
            "calibrated: reviewer misses /1000": per_1000(calibrated["missed"]),
            "drift to demotion: decisions": calibrated["drift_decisions"],
            "other demotions (drift check)": calibrated["other_demotions"],
            **{f"final threshold {t}": v for t, v in calibrated["final"].items()},
            "_by": calibrated["demoted_by"], "_oracle": best,
        })
    return rows


def spread(values: list[float]) -> tuple:
    values = sorted(values)
    return values[0], statistics.median(values), values[-1]


def fmt(value) -> str:
    return f"{value:g}" if isinstance(value, int) else f"{value:.2f}"


def verdicts(rows: list[dict]) -> dict[str, bool]:
    return {
        "reviews_30pct_fewer": all(r["calibrated: fewer reviews than static %"] >= 30 for r in rows),
        "escaped_upper_1pct": all(r["calibrated: escaped 95% upper /1000"] <= 10 for r in rows),
        "demotion_within_200": all(r["drift to demotion: decisions"] <= 200 for r in rows),
    }


# Other ways to run the loop, each one change from the default (``--variants``).
VARIANTS = {
    "default": Loop(),
    "drift check on spot checks only (band 0)": Loop(band=0.0),
    "drift check band 0.1": Loop(band=0.1),
    "spot checks 5%": Loop(spot_rate=0.05),
    "spot checks 20%": Loop(spot_rate=0.20),
    "recalibrate every 100 proposals": Loop(recalibrate_every=100),
    "recalibrate every 2,000 proposals": Loop(recalibrate_every=2000),
    "hold the deployed 0.9 until 100 reviews above it": Loop(hold_deployed=True),
}


def compare(seeds: int) -> None:
    print("| loop (10 seeds) | reviews /1000 (median) | fewer than static % (min..max) | escaped upper /1000 (max) "
          "| drift to demotion (median, max) | other demotions (total) |\n|---|---|---|---|---|---|")
    for name, loop in VARIANTS.items():
        rows = measure(seeds, loop)
        col = lambda key: [r[key] for r in rows]  # noqa: E731
        fewer, drift = spread(col("calibrated: fewer reviews than static %")), spread(col("drift to demotion: decisions"))
        print(f"| {name} | {fmt(spread(col('calibrated: reviews /1000'))[1])} | {fmt(fewer[0])}..{fmt(fewer[2])} "
              f"| {fmt(max(col('calibrated: escaped 95% upper /1000')))} | {fmt(drift[1])}, {fmt(drift[2])} "
              f"| {sum(col('other demotions (drift check)'))} |")


def sweep(seeds: int) -> None:
    global DRIFT_POINTS
    drift_points = DRIFT_POINTS
    print("sensitivity analysis beside the declared worlds (mixed, premise); it does not change the target verdicts")
    print(f"sweep: premise with one error slope for all four types, drift on or off; {seeds} seeds per world\n")
    print("| slope (all types) | drift | static reviews /1000 (median) | oracle fewer than static % (min..max) "
          "| calibrated fewer than static % (min..max) | calibrated escaped upper /1000 (max) "
          "| 30% fewer: oracle | 30% fewer: calibrated |\n|---|---|---|---|---|---|---|---|")
    for slope in SWEEP_SLOPES:
        for drift in (False, True):
            TYPES.clear()
            TYPES.update({name: (*t[:4], slope) for name, t in WORLDS["premise"].items()})
            DRIFT_POINTS = drift_points if drift else 0.0
            rows = measure(seeds, Loop())
            fewer = {arm: [r[f"{arm}: fewer reviews than static %"] for r in rows] for arm in ("oracle", "calibrated")}
            met = {arm: "met" if min(v) >= 30 else "NOT MET" for arm, v in fewer.items()}   # every seed, as verdicts()
            static = spread([r["static: reviews /1000"] for r in rows])[1]
            print(f"| {slope:g} | {'on' if drift else 'off'} | {fmt(static)} "
                  f"| {fmt(min(fewer['oracle']))}..{fmt(max(fewer['oracle']))} "
                  f"| {fmt(min(fewer['calibrated']))}..{fmt(max(fewer['calibrated']))} "
                  f"| {fmt(max(r['calibrated: escaped 95% upper /1000'] for r in rows))} "
                  f"| {met['oracle']} | {met['calibrated']} |")
    DRIFT_POINTS = drift_points


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--variants", action="store_true", help="compare other ways to run the loop, then stop")
    parser.add_argument("--sweep", action="store_true", help="the sensitivity grid beside premise, then stop")
    parser.add_argument("--world", choices=sorted(WORLDS), default="mixed",
                        help="mixed (default): 0.9 unsafe for two of four types; premise: 0.9 over-reviews all four")
    args = parser.parse_args()
    seeds = args.seeds
    TYPES.clear()
    TYPES.update(WORLDS[args.world])
    if args.variants:
        compare(seeds)
        return 0
    if args.sweep:
        sweep(seeds)
        return 0
    rows = measure(seeds, Loop())
    print(f"world {args.world}: {seeds} seeds, {PROPOSALS:,} proposals each (drift at {DRIFT_AT:,})\n")
    print("| measure | min | median | max |\n|---|---|---|---|")
    for key in (k for k in rows[0] if not k.startswith("_")):
        print(f"| {key} | " + " | ".join(fmt(v) for v in spread([r[key] for r in rows])) + " |")
    by = [r["_by"] for r in rows]
    print("\noracle thresholds (seed 0, before / after the drift): " + ", ".join(
        f"{t} {rows[0]['_oracle'][t, False]:g} / {rows[0]['_oracle'][t, True]:g}" for t in TYPES))
    print("drift type reached 1.0: " + ", ".join(f"{b} in {by.count(b)}" for b in sorted(set(map(str, by)))))
    print("\n" + "\n".join(f"target {name}: {'met' if met else 'NOT MET'}" for name, met in verdicts(rows).items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
