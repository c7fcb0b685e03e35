"""Plot geometry for the evidence pack's inline SVG: numbers only. The template draws it, so
every label (action types come from proposals) goes through Jinja2's autoescaping."""
from __future__ import annotations

from typing import Any

ROW, LABEL, WIDTH, GAP = 22, 220, 640, 4


def bars(rows: list[tuple[str, float]], unit: str = "") -> dict[str, Any]:
    """A horizontal bar chart: one bar per (label, value), scaled to the largest value."""
    top = max((v for _, v in rows), default=0) or 1
    room = WIDTH - LABEL - 70
    drawn = [{"label": label, "value": value, "text": f"{value:g}{unit}", "y": i * ROW,
              "width": round(room * value / top, 1)} for i, (label, value) in enumerate(rows)]
    return {"width": WIDTH, "height": max(ROW, len(rows) * ROW), "label_width": LABEL, "row": ROW - GAP,
            "bars": drawn, "empty": not rows}


def histogram(bins: list[dict[str, Any]]) -> dict[str, Any]:
    """Vertical bars, one per bin, in order (the bins are ordered and of unequal width)."""
    top = max((b["count"] for b in bins), default=0) or 1
    height, base, step = 160, 130, WIDTH // max(1, len(bins))
    drawn = [{"label": b["bin"], "value": b["count"], "x": i * step + 4, "width": step - 8,
              "height": round((base - 20) * b["count"] / top, 1)} for i, b in enumerate(bins)]
    for d in drawn:
        d["y"] = base - d["height"]
        d["mid"] = d["x"] + d["width"] / 2
    return {"width": WIDTH, "height": height, "base": base, "bars": drawn, "empty": not any(b["count"] for b in bins)}
