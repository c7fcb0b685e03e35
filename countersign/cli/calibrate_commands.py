"""``countersign calibrate``: run the calibrator now (what its schedule does) and show, per action
type, the deployed and effective thresholds beside what the correction history supports, and what
was done: kept, tightened, demoted, or a loosening proposed as a ``policy.autonomy`` review."""
from __future__ import annotations

from typing import Any

from rich.table import Table

from countersign.cli import client


def add(sub, target_options) -> None:
    cal = sub.add_parser("calibrate", help="calibrate thresholds on the correction history now (as the schedule "
                                           "does): tighten or demote at once, propose loosenings for review")
    cal.add_argument("--action-type", metavar="TYPE", help="one action type (default: every one)")
    cal.add_argument("--dry-run", action="store_true", help="assess only: change nothing, propose nothing")
    cal.add_argument("--json", action="store_true")
    target_options(cal)
    cal.set_defaults(run=run)


def _band(t: dict[str, Any]) -> str:
    veto = t["veto_threshold"]
    return f"{t['auto_approve_threshold']:g}" + (f" (veto from {veto:g})" if veto is not None else "")


def _done(s: dict[str, Any], dry_run: bool) -> str:
    verb = {"keep": "", "tighten": "tightened to ", "demote": "demoted to "}[s["action"]]
    said = f"{'would be ' if dry_run and verb else ''}{verb}{_band(s['then'])}" if verb else "kept"
    if s["proposed"]:
        said += "; would propose " if dry_run else "; proposed "
        said += f"{_band(s['recommended'])} for review" + ("" if dry_run else f" ({s['proposal'].rsplit(':', 1)[-1]})")
    return said


def run(args) -> int:
    from countersign.cli import commands as cli

    event = {"dry_run": args.dry_run, **({"action_type": args.action_type} if args.action_type else {})}
    body = client.invoke(cli._target(args), "CalibratorFunctionName", "calibrator", event)
    if args.action_type and not body["standings"]:
        raise client.ClientError(f"the deployed policy has no action type {args.action_type!r}")

    def human(doc: dict[str, Any]) -> None:
        table = Table("action type", "deployed", "in effect", "history supports", "decisions", "done",
                      title=f"calibration on {doc['decisions']:,} human decisions", title_justify="left")
        for s in doc["standings"]:
            table.add_row(s["action_type"], _band(s["deployed"]), _band(s["effective"]), _band(s["recommended"]),
                          f"{s['decisions']:,}", _done(s, args.dry_run))
        cli.out.print(table)
    cli._emit(args, body, human)
    return 0
