"""``countersign report oversight --out DIR``: the oversight report (``evidence/oversight.py``) as
one self-contained HTML page (inline CSS and SVG, no script, no external reference) and
``oversight.json``. Read from the stack (trail and policy) or from an export (``--from``; the
deployed thresholds then come from a stack if one is named). Exit 0 written, 1 could not read."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from countersign.cli.audit_commands import day
from countersign.evidence import oversight
from countersign.evidence.compliance import sources, svg
from countersign.evidence.compliance.figures import records_of


def add(kinds, target_options) -> None:
    view = kinds.add_parser("oversight", help="is oversight working: calibration curves, thresholds and their "
                                              "history, review load, reviewer vigilance, override reasons (HTML + JSON)")
    view.add_argument("--out", required=True, metavar="DIR", help="directory for index.html and oversight.json")
    view.add_argument("--since", type=day, help="streams from this day (YYYY-MM-DD)")
    view.add_argument("--until", type=day, help="streams up to this day (YYYY-MM-DD)")
    view.add_argument("--from", dest="source", metavar="FILE.jsonl", help="read an export (audit export) instead")
    target_options(view)
    view.set_defaults(run=run, json=False)


def charts(facts: dict) -> dict:
    return {"load": svg.bars([(d["day"], d["decisions"]) for d in facts["load"]]),
            "curves": [svg.curve(t["curve"], {"deployed": (t["deployed"] or {}).get("auto_approve_threshold"),
                                              "effective": (t["effective"] or {}).get("auto_approve_threshold")})
                       for t in facts["action_types"]]}


def write(facts: dict, out: Path) -> None:
    from countersign.review.pages import _env

    out.mkdir(parents=True, exist_ok=True)
    (out / "oversight.json").write_text(json.dumps(facts, indent=2, ensure_ascii=False, sort_keys=True) + "\n",
                                        encoding="utf-8")
    (out / "index.html").write_text(_env().get_template("oversight.html.j2").render(f=facts, charts=charts(facts)),
                                    encoding="utf-8")


def run(args) -> int:
    from countersign.cli import commands as cli

    try:
        src, target = sources.from_args(
            args, cli._target, lambda done, total: cli.err.print(f"read {done:,} of {total:,} objects", markup=False))
    except sources.Unreadable as exc:
        cli.err.print(f"error: {exc}", markup=False)
        return 1
    facts = {**oversight.assemble(records_of(src.objects), src.policy),
             "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
             "period": {"since": args.since, "until": args.until},
             "target": f"stack {target.stack}" if target else None,
             "missing": [] if src.policy else ["the deployed policy (name a stack to show the deployed thresholds)"]}
    out = Path(args.out)
    try:
        write(facts, out)
    except OSError as exc:
        cli.err.print(f"error: cannot write {out}: {exc.strerror or exc}", markup=False)
        return 1
    cli.err.print(f"wrote {out / 'index.html'} and {out / 'oversight.json'}", markup=False)
    return 0
