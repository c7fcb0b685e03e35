"""``countersign report vigilance [--json]``: per reviewer and action type, the decisions, rates,
dwell and canaries, with the flags, and who needs attention. Read from the stack's trail (or an
export with ``--from``); exit 0 when printed, 1 when the trail cannot be read."""
from __future__ import annotations

from countersign.cli.audit_commands import day
from countersign.evidence import history, trail, vigilance
from countersign.evidence.compliance.figures import bounded, records_of
from countersign.review.inert import printable

COLUMNS = ("reviewer", "action type", "decisions", "approve", "modify", "reject", "median dwell",
           f"< {vigilance.FAST_SECONDS:g} s", "canaries caught/missed", "flags")


def add(kinds, target_options) -> None:
    view = kinds.add_parser("vigilance", help="reviewer vigilance: rates, dwell, canaries and flags per reviewer and "
                                              "action type, and who needs attention")
    view.add_argument("--since", type=day, help="streams from this day (YYYY-MM-DD)")
    view.add_argument("--until", type=day, help="streams up to this day (YYYY-MM-DD)")
    view.add_argument("--from", dest="source", metavar="FILE.jsonl", help="read an export (audit export) instead")
    view.add_argument("--json", action="store_true", help="one JSON document: every line, and who needs attention")
    target_options(view)
    view.set_defaults(run=run)


def run(args) -> int:
    from countersign.cli import commands as cli

    if args.source:
        try:
            with open(args.source, encoding="utf-8") as lines:
                objects = trail.load_export(iter(lines))[0]
        except (OSError, ValueError, KeyError, StopIteration) as exc:
            cli.err.print(f"error: cannot read the export {args.source}: {exc}", markup=False)
            return 1
        wanted = trail.selects(args.since, args.until)
        objects = [o for o in objects if wanted(o.key.rpartition("/")[0])]
    else:
        objects = trail.read(cli._target(args), args.since, args.until)
    lines = vigilance.watch(history.decisions(records_of(objects)))
    attention = vigilance.attention(lines)
    if args.json:
        cli._write_json({"lines": [line.to_dict() for line in lines],
                         "attention": [{"reviewer": a.reviewer, "action_type": a.action_type, "flags": list(a.flags)}
                                       for a in attention],
                         "period": {"since": args.since, "until": args.until}})
        return 0
    rows = [COLUMNS] + [_cells(line) for line in lines]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    for row in rows:
        cli.out.print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip(), markup=False)
    if not lines:
        cli.out.print("no human decisions in the trail for this period", markup=False)
    elif not attention:
        cli.out.print("nobody needs attention", markup=False)
    else:
        cli.out.print("needs attention:", markup=False)
        for line in attention:
            cli.out.print(f"  {_text(line.reviewer)} on {_text(line.action_type)}: {_why(line)}", markup=False)
    return 0


def _cells(line: vigilance.Vigilance) -> tuple[str, ...]:
    pct = lambda share: "-" if share is None else f"{share:.0%}"  # noqa: E731
    return (_text(line.reviewer), _text(line.action_type), str(line.decisions), pct(line.approve_rate),
            pct(line.modify_rate), pct(line.reject_rate),
            "-" if line.median_dwell is None else f"{line.median_dwell:.1f} s", pct(line.fast_share),
            f"{line.caught}/{line.missed}" if line.canaries else "-", ", ".join(line.flags) or "-")


def _text(value: str) -> str:
    """Recorded text (an AI-written action type, a reviewer) as one bounded, inert line."""
    return printable(bounded(value, "action_type"))


def _why(line: vigilance.Vigilance) -> str:
    said = {"rubber_stamp": f"approved {line.approve_rate:.0%} of {line.decisions} decisions as proposed",
            "fast": f"median dwell {line.median_dwell:.1f} s (under {vigilance.FAST_SECONDS:g} s)" if line.fast else "",
            "missed_canary": f"approved {line.missed} canary proposal(s) as proposed"}
    return "; ".join(said[flag] for flag in line.flags)
