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


def curve(points: list[dict[str, Any]], lines: dict[str, float | None]) -> dict[str, Any]:
    """A calibration curve: per confidence band (``low`` .. ``low`` + 0.05) the override rate with
    its interval (``rate``, ``lower``, ``upper``), and vertical ``lines`` (name → confidence)."""
    left, right, top, bottom, height = 60, WIDTH - 20, 10, 170, 200
    x0 = min([0.5] + [p["low"] for p in points])
    y1 = max([0.05] + [p["upper"] for p in points])

    def x(c: float) -> float:
        return round(left + (right - left) * (c - x0) / (1 - x0), 1)

    def y(r: float) -> float:
        return round(bottom - (bottom - top) * r / y1, 1)
    drawn = [{"band": p["band"], "n": p["n"], "cx": x(min(1.0, p["low"] + 0.025)), "cy": y(p["rate"]),
              "y_low": y(p["lower"]), "y_high": y(p["upper"]), "text": f"{p['rate']:.0%} of {p['n']}"} for p in points]
    marks = [{"name": name, "x": x(c)} for name, c in lines.items() if c is not None and x0 <= c <= 1]
    ticks = [{"x": x(c), "text": f"{c:g}"} for c in (x0, (x0 + 1) / 2, 1.0)]
    return {"width": WIDTH, "height": height, "left": left, "right": right, "top": top, "bottom": bottom,
            "points": drawn, "marks": marks, "ticks": ticks, "y_max": f"{y1:.0%}", "empty": not points}
