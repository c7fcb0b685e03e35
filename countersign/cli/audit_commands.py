"""``countersign audit``: write a digest now, verify the trail (online or from an export), export
it, print the digest key's public key. Exit codes: 0 intact, 5 integrity problem found, 1 could
not verify (with the reason)."""
from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

from countersign.cli import client

from countersign.evidence import trail
from countersign.evidence.verify import check

EXIT_INTACT, EXIT_PROBLEM, EXIT_CANNOT = 0, 5, 1


def day(text: str) -> str:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text or ""):
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD")
    return text


def add(sub, target_options) -> None:
    audit = sub.add_parser("audit", help="prove the audit trail: digest, verify, export, public-key")
    actions = audit.add_subparsers(required=True, metavar="ACTION", parser_class=type(audit))

    digest = actions.add_parser("digest", help="write a signed digest now (as the schedule does)")
    digest.add_argument("--json", action="store_true")
    target_options(digest)
    digest.set_defaults(run=run_digest)

    verify = actions.add_parser("verify", help="check every record, chain, digest and lock; exit 0 intact, "
                                               "5 problem found, 1 could not verify")
    verify.add_argument("--since", type=day, help="streams from this day (YYYY-MM-DD)")
    verify.add_argument("--until", type=day, help="streams up to this day (YYYY-MM-DD)")
    verify.add_argument("--execution", help="one execution's stream, by name")
    verify.add_argument("--from", dest="source", metavar="FILE.jsonl", help="verify an export, offline")
    verify.add_argument("--public-key", metavar="PEM", help="with --from: your own copy of the digest public key")
    verify.add_argument("--json", action="store_true")
    target_options(verify)
    verify.set_defaults(run=run_verify)

    export = actions.add_parser("export", help="write the trail and its digests to one JSON Lines file")
    export.add_argument("--since", type=day)
    export.add_argument("--until", type=day)
    export.add_argument("--out", required=True, metavar="FILE.jsonl")
    target_options(export)
    export.set_defaults(run=run_export, json=False)

    key = actions.add_parser("public-key", help="print the digest key's public key (PEM)")
    target_options(key)
    key.set_defaults(run=run_public_key, json=False)


def run_digest(args) -> int:
    from countersign.cli import commands as cli

    written = trail.write_digest(cli._target(args))
    cli._emit(args, written, lambda d: cli.out.print(
        f"digest {d['key']}: {d['streams']} stream(s) signed" if d["written"] else
        f"digest {d['key']} is current (written less than a minute ago)", markup=False))
    return 0


def _progress(cli, label: str):
    def show(done: int, total: int) -> None:
        cli.err.print(f"{label} {done:,} of {total:,} objects", markup=False)
    return show


def run_verify(args) -> int:
    from countersign.cli import commands as cli

    if args.source:
        try:
            with open(args.source, encoding="utf-8") as lines:
                objects, der, lock, period = trail.load_export(iter(lines))
        except (OSError, ValueError, KeyError) as exc:
            return _cannot(args, cli, f"cannot read the export {args.source}: {exc}")
        if args.public_key:
            try:
                der = trail.der_from_pem(Path(args.public_key).read_text())
            except (OSError, ValueError) as exc:
                return _cannot(args, cli, f"cannot read the public key {args.public_key}: {exc}")
    else:
        target = cli._target(args)
        try:
            der, lock = trail.public_key(target), trail.lock_settings(target)
            objects = trail.read(target, args.since, args.until, args.execution, _progress(cli, "read"))
        except client.ClientError:
            raise
        except Exception as exc:        # access denied, a missing key or bucket: could not verify
            return _cannot(args, cli, f"cannot read the trail: {str(exc).splitlines()[0]}")
    try:
        report = check(objects, der, lock, now=datetime.now(timezone.utc),
                       progress=lambda n: cli.err.print(f"checked {n:,} of {len(objects):,} objects", markup=False),
                       scope=trail.selects(period["since"], period["until"]) if args.source and any(period.values())
                       else None if args.source else trail.selects(args.since, args.until, args.execution))
    except ValueError as exc:
        return _cannot(args, cli, f"cannot use the public key: {exc}")
    cli._emit(args, report.as_dict(), lambda d: _print_report(report, cli))
    return EXIT_INTACT if report.intact else EXIT_PROBLEM


def _print_report(report, cli) -> None:
    for problem in report.problems:
        cli.out.print(problem.line(), markup=False)
    state = "intact" if report.intact else f"{len(report.problems)} problem(s) found"
    cli.out.print(f"{state}: {report.records:,} records in {report.streams:,} streams, {report.digests:,} digests"
                  + (f"; {report.pending:,} records newer than the newest digest" if report.pending else ""),
                  markup=False)


def _cannot(args, cli, reason: str) -> int:
    if getattr(args, "json", False):
        cli._write_json({"intact": None, "error": reason})
    cli.err.print(f"error: could not verify: {reason}", markup=False)
    return EXIT_CANNOT


def run_export(args) -> int:
    from countersign.cli import commands as cli

    target = cli._target(args)
    objects = trail.read(target, args.since, args.until, None, _progress(cli, "exported"))
    lines = trail.export_lines(objects, trail.public_key(target), trail.lock_settings(target),
                               target.outputs["AuditBucketName"], {"since": args.since, "until": args.until})
    with open(args.out, "w", encoding="utf-8") as out:
        for line in lines:
            out.write(line + "\n")
    cli.err.print(f"wrote {len(objects):,} objects to {args.out}", markup=False)
    return 0


def run_public_key(args) -> int:
    from countersign.cli import commands as cli

    sys.stdout.write(trail.pem(trail.public_key(cli._target(args))))
    return 0

