"""Writing the evidence pack: ``index.html`` (one self-contained page: inline CSS and SVG, no
script, no external reference of any kind) and ``evidence.json`` (the same facts)."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from countersign.evidence.compliance import svg


def _short(label: str, limit: int = 34) -> str:
    return label if len(label) <= limit else label[:limit - 1] + "…"


def charts(facts: dict[str, Any]) -> dict[str, Any]:
    fig = facts["figures"]
    flips = Counter(k["to"] for k in fig["kill_switch_flips"])
    return {
        "outcomes": svg.bars([(d["outcome"], d["count"]) for d in fig["decisions"]["by_outcome"]]),
        "overrides": svg.bars([(_short(o["action_type"]), round(o["rate"] * 100, 1)) for o in fig["overrides"]], " %"),
        "times": svg.histogram(fig["time_to_decision"]["histogram"]),
        "expiries": svg.bars([(_short(e["action_type"]), e["expired"]) for e in fig["expiries"]["by_action_type"]]),
        "refusals": svg.bars([(_short(r["reason"]), r["count"]) for r in fig["refusals"]]),
        "flips": svg.bars([(_short(state), n) for state, n in sorted(flips.items())]),
    }


def page(facts: dict[str, Any]) -> str:
    from countersign.review.pages import _env

    return _env().get_template("compliance.html.j2").render(f=facts, charts=charts(facts))


def write(facts: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "evidence.json").write_text(json.dumps(facts, indent=2, ensure_ascii=False, sort_keys=True) + "\n",
                                       encoding="utf-8")
    (out / "index.html").write_text(page(facts), encoding="utf-8")
