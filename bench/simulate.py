"""The calibration rule against a static 0.9 threshold, on seeded synthetic streams.

The world (assumptions, stated so they can be disputed):
- 40,000 proposals per seed from four action types (shares 40/25/20/15%). Confidences are drawn
  from a Beta distribution per type and reported at two decimals.
- Ground truth: P(wrong | confidence c) = floor + slope * (1 - c), per type. A calibrated model has
  slope 1; ``ticket.reply`` and ``notice.send`` are underconfident (slope 0.05, 0.1),
  ``crm.update`` less so (0.3), ``email.draft`` is calibrated (1.0).
- Drift: at proposal 20,000, ``ticket.reply`` gets 10 points less accurate at every confidence.
- Reviewers (the same for every route) catch 90% of wrong actions (modify or reject) and
  override 0.2% of right ones anyway (edits that fix nothing); both count as overrides.
- Every action type is reversible and medium risk; the HOTL band is not routed (a veto's catch
  rate is not modelled), so both arms only auto-approve or ask a human.

The arms see the same proposals, draws and reviewer behaviour:
- static: auto-approve at confidence >= 0.9, no spot checks.
- calibrated: starts at 0.9 with no history; spot checks 10% of the auto zone; every 500
  proposals each type gets ``calibration.recommend`` on its history, loosening applied as if a
  human had approved it and tightening at once; after every spot check ``calibration.drift_check``
  may demote the type (auto 1.0), whose history then restarts.

Escaped error: a wrong action that ran uncorrected, i.e. auto-approved without a spot check, or
reviewed and approved by a reviewer who missed it. Its 95% upper bound is Wilson's over the
seed's 40,000 proposals. Drift to demotion counts the drifting type's human decisions (and its
proposals) from the drift until its auto threshold is 1.0, whether the drift check or a
recalibration put it there.

Run:  python bench/simulate.py [--seeds 10]   (prints a table, then one line per target; exit 0)
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from countersign.rules import calibration as cal  # noqa: E402

PROPOSALS, DRIFT_AT, DRIFT_TYPE, DRIFT_POINTS = 40_000, 20_000, "ticket.reply", 0.10
STATIC, START, SPOT_RATE, RECALIBRATE_EVERY = 0.9, 0.9, 0.10, 500
CATCH, FALSE_OVERRIDE = 0.90, 0.002
# name: (share, beta a, beta b, error floor, error slope)
TYPES = {"ticket.reply": (0.40, 7, 2, 0.001, 0.05), "notice.send": (0.25, 6, 2, 0.002, 0.10),
         "crm.update": (0.20, 9, 1.5, 0.002, 0.30), "email.draft": (0.15, 4, 2, 0.0, 1.0)}
EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)


def stream(seed: int) -> list[tuple]:
    """(type, confidence, wrong, review draw, spot draw, reviewer) per proposal."""
    rng = random.Random(seed)
    names, shares = list(TYPES), [t[0] for t in TYPES.values()]
    out = []
    for i in range(PROPOSALS):
        name = rng.choices(names, shares)[0]
        _, a, b, floor, slope = TYPES[name]
        c = round(rng.betavariate(a, b), 2)
        p_wrong = floor + slope * (1 - c) + (DRIFT_POINTS if name == DRIFT_TYPE and i >= DRIFT_AT else 0.0)
        out.append((name, c, rng.random() < p_wrong, rng.random(), rng.random(), rng.choice("abc")))
    return out


def review(wrong: bool, draw: float) -> str:
    """The reviewer's outcome: a caught error is modified or rejected; a miss is approved."""
    if wrong:
        return ("modified" if draw < CATCH / 2 else "rejected") if draw < CATCH else "approved"
    return "modified" if draw < FALSE_OVERRIDE else "approved"


def run_static(proposals: list[tuple]) -> dict:
    reviews = escaped_auto = missed = 0
    for _, c, wrong, draw, _, _ in proposals:
        if c >= STATIC:
            escaped_auto += wrong
        else:
            reviews += 1
            missed += wrong and review(wrong, draw) == "approved"
    return {"reviews": reviews, "escaped": escaped_auto + missed, "escaped_auto": escaped_auto, "missed": missed}


def run_calibrated(proposals: list[tuple]) -> dict:
    deployed = {name: cal.Thresholds(START) for name in TYPES}
    history: dict[str, list[cal.Decision]] = {name: [] for name in TYPES}
    spots: dict[str, list[cal.Decision]] = {name: [] for name in TYPES}
    reviews = escaped_auto = missed = drift_decisions = drift_proposals = 0
    demotions: list[tuple[str, int]] = []         # by the drift check
    demoted_by = None                             # how the drifting type first reached 1.0 after the drift
    for i, (name, c, wrong, draw, spot_draw, who) in enumerate(proposals):
        if i and i % RECALIBRATE_EVERY == 0:
            for t in TYPES:
                deployed[t] = cal.recommend(t, history[t], deployed[t]).recommended
            if i > DRIFT_AT and demoted_by is None and deployed[DRIFT_TYPE].auto == cal.NEVER:
                demoted_by = "recalibration"
        auto = c >= deployed[name].auto
        spot = auto and spot_draw < SPOT_RATE
        if name == DRIFT_TYPE and i >= DRIFT_AT and demoted_by is None:
            drift_proposals += 1
            drift_decisions += not auto or spot
        if auto and not spot:
            escaped_auto += wrong
            continue
        reviews += 1
        outcome = review(wrong, draw)
        missed += wrong and outcome == "approved"
        row = cal.Decision(name, c, outcome, spot, f"reviewer-{who}", (EPOCH + timedelta(minutes=i)).isoformat())
        history[name].append(row)
        if spot:
            spots[name].append(row)
            if cal.drift_check(name, spots[name], deployed[name].auto).demote:
                demotions.append((name, i))
                deployed[name] = cal.Thresholds(cal.NEVER)
                history[name], spots[name] = [], []
                if name == DRIFT_TYPE and i >= DRIFT_AT and demoted_by is None:
                    demoted_by = "drift check"
    true = [at for t, at in demotions if t == DRIFT_TYPE and at >= DRIFT_AT]
    return {"reviews": reviews, "escaped": escaped_auto + missed, "escaped_auto": escaped_auto, "missed": missed,
            "demoted_by": demoted_by, "drift_decisions": drift_decisions, "drift_proposals": drift_proposals,
            "false_demotions": len(demotions) - min(1, len(true)),
            "final": {t: deployed[t].auto for t in TYPES}}


def per_1000(count: int) -> float:
    return 1000 * count / PROPOSALS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    seeds = parser.parse_args().seeds
    rows, by_check = [], []
    for seed in range(seeds):
        proposals = stream(seed)
        static, calibrated = run_static(proposals), run_calibrated(proposals)
        upper = cal.wilson_interval(calibrated["escaped"], PROPOSALS)[1]
        never = float("inf")
        demoted = calibrated["demoted_by"] is not None
        by_check.append(calibrated["demoted_by"] == "drift check")
        rows.append({
            "static: reviews /1000": per_1000(static["reviews"]),
            "calibrated: reviews /1000": per_1000(calibrated["reviews"]),
            "calibrated: fewer reviews %": 100 * (1 - calibrated["reviews"] / static["reviews"]),
            "static: escaped /1000": per_1000(static["escaped"]),
            "static: escaped 95% upper /1000": 1000 * cal.wilson_interval(static["escaped"], PROPOSALS)[1],
            "static: of which auto-approved /1000": per_1000(static["escaped_auto"]),
            "calibrated: escaped /1000": per_1000(calibrated["escaped"]),
            "calibrated: escaped 95% upper /1000": 1000 * upper,
            "calibrated: of which auto-approved /1000": per_1000(calibrated["escaped_auto"]),
            "drift to demotion: decisions": calibrated["drift_decisions"] if demoted else never,
            "drift to demotion: proposals": calibrated["drift_proposals"] if demoted else never,
            "false demotions (drift check)": calibrated["false_demotions"],
            **{f"final threshold {t}": v for t, v in calibrated["final"].items()},
        })
    print(f"{seeds} seeds, {PROPOSALS:,} proposals each (drift at {DRIFT_AT:,})\n")
    print("| measure | min | median | max |\n|---|---|---|---|")
    for key in rows[0]:
        values = sorted(r[key] for r in rows)
        print(f"| {key} | " + " | ".join(f"{v:g}" if isinstance(v, int) else f"{v:.2f}"
                                          for v in (values[0], statistics.median(values), values[-1])) + " |")
    print(f"\ndemoted by the drift check in {sum(by_check)} of {seeds} seeds, by a recalibration in the others\n")
    verdicts = {
        "reviews_30pct_fewer": all(r["calibrated: fewer reviews %"] >= 30 for r in rows),
        "escaped_upper_1pct": all(r["calibrated: escaped 95% upper /1000"] <= 10 for r in rows),
        "demotion_within_200": all(r["drift to demotion: decisions"] <= 200 for r in rows),
    }
    for name, met in verdicts.items():
        print(f"target {name}: {'met' if met else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
