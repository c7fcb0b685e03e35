"""``countersign report compliance --out DIR``: write the evidence pack. Exit codes: 0 written,
1 could not read what it needs (one line, the reason), 5 written, but ``audit verify`` found
integrity problems (the pack says so at the top)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from countersign.evidence import trail
from countersign.cli.audit_commands import day
from countersign.evidence.verify import check

EXIT_WRITTEN, EXIT_CANNOT, EXIT_PROBLEM = 0, 1, 5


def add(sub, target_options) -> None:
    from countersign.cli import oversight_report, vigilance_report

    report = sub.add_parser("report", help="evidence for auditors: the compliance evidence pack, reviewer vigilance")
    kinds = report.add_subparsers(required=True, metavar="REPORT", parser_class=type(report))
    pack = kinds.add_parser("compliance", help="write a self-contained HTML evidence pack and evidence.json; exit 0 "
                                               "written, 5 written but the trail has integrity problems, 1 could not read")
    pack.add_argument("--out", required=True, metavar="DIR", help="directory for index.html and evidence.json")
    pack.add_argument("--since", type=day, help="streams from this day (YYYY-MM-DD)")
    pack.add_argument("--until", type=day, help="streams up to this day (YYYY-MM-DD)")
    pack.add_argument("--from", dest="source", metavar="FILE.jsonl",
                      help="the trail from an export (audit export); the rest from --stack/--endpoint if given")
    pack.add_argument("--athena", action="store_true",
                      help="the trail's figures from the stack's Athena named queries (the whole trail), instead of "
                           "reading every record; integrity is then not checked in this run (run audit verify)")
    target_options(pack)
    pack.set_defaults(run=run, json=False)
    vigilance_report.add(kinds, target_options)
    oversight_report.add(kinds, target_options)


def run(args) -> int:
    from countersign.cli import commands as cli
    from countersign.evidence.compliance import evidence, render, sources

    def progress(done: int, total: int) -> None:
        cli.err.print(f"read {done:,} of {total:,} objects", markup=False)

    if args.athena and (args.source or args.since or args.until):
        cli.parser().error("--athena runs the named queries over the whole trail: it takes neither --from nor "
                           "--since/--until")
    if args.athena:
        return _from_athena(args, cli, evidence, render, sources)
    try:
        src, target = sources.from_args(args, cli._target, progress)
        now = datetime.now(timezone.utc)
        period = args.since or args.until
        report = check(src.objects, src.public_key_der, src.lock, now=now,
                       progress=lambda n: cli.err.print(f"checked {n:,} of {len(src.objects):,} objects", markup=False),
                       scope=trail.selects(args.since, args.until) if period else None)
    except sources.Unreadable as exc:
        return _cannot(cli, str(exc))
    except ValueError as exc:
        return _cannot(cli, f"cannot use the digest public key: {exc}")
    where = f"stack {target.stack}" + (f" at {target.endpoint}" if target.endpoint else "") if target else None
    facts = evidence.assemble(src, report, {"since": args.since, "until": args.until}, now, where)
    out = Path(args.out)
    try:
        render.write(facts, out)
    except OSError as exc:
        return _cannot(cli, f"cannot write {out}: {exc.strerror or exc}")
    state = "intact" if report.intact else f"{len(report.problems)} integrity problem(s) found"
    cli.err.print(f"wrote {out / 'index.html'} and {out / 'evidence.json'}; audit verify: {state}", markup=False)
    return EXIT_WRITTEN if report.intact else EXIT_PROBLEM


def _from_athena(args, cli, evidence, render, sources) -> int:
    """The pack with the trail's figures from Athena (``audit_queries.run_athena``), nothing read
    record by record: for trails too large to list from a laptop."""
    from countersign.evidence import audit_queries

    target = cli._target(args)
    try:
        src = sources.from_stack(target, None, None, lambda done, total: None, trail_too=False)
        workgroup, database = target.outputs.get("AuditWorkGroupName"), target.outputs.get("AuditDatabaseName")
        if not (workgroup and database):
            raise sources.Unreadable(f"stack {target.stack} has no Athena workgroup or audit database (deploy the "
                                     "current version; the sandbox runs no Athena: leave out --athena)")
        src.lock = trail.lock_settings(target)
        cli.err.print(f"running {len(audit_queries.QUERIES)} named queries in Athena workgroup {workgroup}", markup=False)
        queried = audit_queries.run_athena(target.client("athena"), workgroup, database)
    except sources.Unreadable as exc:
        return _cannot(cli, str(exc))
    except Exception as exc:            # access denied, a failed query
        return _cannot(cli, f"cannot run the Athena queries: {str(exc).splitlines()[0]}")
    src.origin.update(trail=f"Athena workgroup {workgroup}, database {database} (the named queries)",
                      lock=f"stack {target.stack}: the bucket's Object Lock configuration")
    where = f"stack {target.stack}" + (f" at {target.endpoint}" if target.endpoint else "")
    facts = evidence.assemble(src, None, {"since": None, "until": None}, datetime.now(timezone.utc), where, queried)
    try:
        render.write(facts, Path(args.out))
    except OSError as exc:
        return _cannot(cli, f"cannot write {args.out}: {exc.strerror or exc}")
    cli.err.print(f"wrote {Path(args.out) / 'index.html'} and {Path(args.out) / 'evidence.json'}; integrity not "
                  "checked in this run (run countersign audit verify)", markup=False)
    return EXIT_WRITTEN


def _cannot(cli, reason: str) -> int:
    cli.err.print(f"error: could not write the evidence pack: {reason}", markup=False)
    return EXIT_CANNOT
