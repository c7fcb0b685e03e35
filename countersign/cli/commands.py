"""``countersign``: submit proposals and wait for verdicts, check executions, run the sandbox.

Exit codes: ``client.EXIT_TABLE`` (also printed by ``countersign --help``).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from countersign.adapters import retries
from countersign.cli import audit_commands as audit_cli, calibrate_commands, client, follow, mcp_server
from countersign.cli import receipt_commands
from countersign.evidence.compliance import command as report_command
from countersign.rules.proposal import InvalidProposal, check_shape, execution_name
from countersign.rules.routing import KILL_SWITCH_CACHE_SECONDS

# Human output only: never emoji codes, and every value that came from a proposal, a reviewer or an
# exception is escaped (markup.escape) or printed with markup off. --json bypasses Rich entirely.
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
out = Console(highlight=False, soft_wrap=True, emoji=False)
SANDBOX_STACK = "Countersign-sandbox"


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits 64 (sysexits' EX_USAGE): 2 means rejected here."""

    json_wanted = False     # set by main: a usage error under --json is one JSON document too

    def error(self, message: str):
        if Parser.json_wanted:
            _write_json({"outcome": "usage_error", "executionArn": None, "error": message})
        self.print_usage(sys.stderr)
        self.exit(client.EXIT_USAGE, f"{self.prog}: error: {message}\n")


def duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``30m``, ``48h`` or ``2d``; finite and not negative."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text or "")
    if not found:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: use e.g. 90s, 30m, 48h or 2d")
    return float(found[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[found[2]]


class Following:
    """The execution this command started or follows, for the messages on the way out."""
    name: str | None = None
    arn: str | None = None
    reattach: str | None = None
    started = False          # False while submitting: it may or may not have arrived


def main(argv: list[str] | None = None) -> int:
    Parser.json_wanted = "--json" in (sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    if getattr(args, "timeout", None) is not None and not getattr(args, "wait", True):
        parser().error("--timeout needs --wait (without --wait, submit returns at once and exits 5, pending)")
    if getattr(args, "receipt_out", None) and not getattr(args, "wait", True):
        parser().error("--receipt-out needs --wait (the receipt comes with the verdict)")
    Following.name = Following.arn = Following.reattach = None
    Following.started = False
    previous = signal.signal(signal.SIGTERM, follow.raising(follow.Stopped))
    try:
        with follow.wall_clock(getattr(args, "timeout", None)):
            return args.run(args)
    except (client.ClientError, retries.CallFailed) as exc:
        return _failed(args, str(exc))
    except follow.OutOfTime:
        if Following.name is None:
            return _failed(args, f"no answer from {args.endpoint or 'AWS'} within {args.timeout:g}s (--timeout); "
                                 "nothing was submitted")
        if not Following.started:
            return _failed(args, f"no answer within {args.timeout:g}s (--timeout) while submitting")
        _emit(args, {"outcome": "pending", "executionArn": Following.arn, "key": Following.name, "status": "RUNNING",
                     "timeout": True}, lambda d: None)
        err.print(f"still waiting after {args.timeout:g}s; the review stays open. Re-attach with: "
                  f"{Following.reattach}", markup=False)
        return client.EXIT_PENDING
    except (KeyboardInterrupt, follow.Stopped) as exc:
        code = 143 if isinstance(exc, follow.Stopped) else 130
        if Following.name is not None:
            _emit(args, {"outcome": "pending", "executionArn": Following.arn, "key": Following.name,
                         "status": "RUNNING", "interrupted": "SIGTERM" if code == 143 else "SIGINT"}, lambda d: None)
            err.print(f"interrupted: the review stays open. Re-attach with: {Following.reattach}" if Following.started
                      else f"interrupted while submitting; if it arrived, this finds it: {Following.reattach}",
                      markup=False)
        return code
    finally:
        signal.signal(signal.SIGTERM, previous)


def _failed(args, message: str) -> int:
    """One line on stderr (one JSON document on stdout too, under --json); exit 1. When a review
    is open, the line says so and gives the command that re-attaches to it."""
    if Following.name is not None:
        message += (f"; the review stays open. Re-attach with: {Following.reattach}" if Following.started else
                    f"; if the submission arrived, this finds it: {Following.reattach}")
    if getattr(args, "json", False):
        _write_json({"outcome": "error", "executionArn": Following.arn, **({"key": Following.name} if Following.name
                                                                           else {}), "error": message})
    err.print(f"[red]error:[/red] {escape(message)}")
    return client.EXIT_ERROR


def parser() -> argparse.ArgumentParser:
    top = Parser(prog="countersign", description="Human approval gates for AI actions.", epilog=client.EXIT_TABLE,
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(required=True, metavar="COMMAND", parser_class=Parser)

    submit = sub.add_parser("submit", help="submit a proposal; with --wait, block until a verdict")
    submit.add_argument("proposal", help="proposal JSON file, or - for standard input")
    submit.add_argument("--workflow", help="workflow (state machine) name or ARN; default: the stack's gate")
    submit.add_argument("--wait", action="store_true", help="wait for the verdict and exit with its code")
    submit.add_argument("--idempotency-key", help="a retried step with the same key joins the same review "
                                                  "(default: a new key, printed, for `countersign wait`)")
    _wait_options(submit)
    _target_options(submit)
    submit.set_defaults(run=run_submit)

    wait = sub.add_parser("wait", help="re-attach to a review and wait for its verdict, as submit --wait does")
    wait.add_argument("execution", help="the idempotency key (or execution name or ARN) that submit printed")
    wait.add_argument("--proposal", metavar="FILE", help="the proposal you will act on: exit 4 unless the execution "
                                                        "was started for exactly this content")
    wait.add_argument("--workflow")
    _wait_options(wait)
    _target_options(wait)
    wait.set_defaults(run=run_wait, wait=True)

    status = sub.add_parser("status", help="show an execution's state or verdict")
    status.add_argument("execution", help="execution name or ARN")
    status.add_argument("--workflow")
    status.add_argument("--json", action="store_true")
    status.add_argument("--proceed-on-modified", action="store_true", help="exit 0 for a modified approval too")
    status.add_argument("--proposal", metavar="FILE", help="the proposal you will act on: exit 4 unless the execution "
                                                          "was started for exactly this content")
    _target_options(status)
    status.set_defaults(run=run_status)

    kill = sub.add_parser("kill-switch", help="the stop button: send every action to a human, or halt them")
    kill.add_argument("state", choices=["on", "off", "status"])
    kill.add_argument("--mode", choices=["halt", "human"], default="halt",
                      help="with on: halt refuses new actions (default); human sends all to a human")
    kill.add_argument("--reason", default="", help="why, for the audit trail")
    _target_options(kill)
    kill.set_defaults(run=run_kill_switch)

    redrive = sub.add_parser("redrive", help="finish decisions left undispatched now (the reconciler's sweep) and clear moot dead letters")
    redrive.add_argument("--json", action="store_true")
    _target_options(redrive)
    redrive.set_defaults(run=run_redrive)

    audit_cli.add(sub, _target_options)
    calibrate_commands.add(sub, _target_options)
    mcp_server.add(sub, _target_options)
    report_command.add(sub, _target_options)
    receipt_commands.add(sub, _target_options)

    local = sub.add_parser("local", help="run the whole stack on this machine (moto), in the foreground")
    local.add_argument("--port", type=int, default=8000, help="review pages and outbox (default 8000)")
    local.add_argument("--aws-port", type=int, default=5000, help="the local AWS endpoint (default 5000)")
    local.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE",
                       help="CDK context override, as for cdk synth")
    local.set_defaults(run=run_local)
    return top


def _wait_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=duration, help="with --wait: a wall-clock bound on the whole command (90s, 30m, "
                                                    "48h; exit 5, the review stays open)")
    p.add_argument("--heartbeat", type=duration, default=300.0, help="when stderr is not a terminal (a CI log): "
                                                                    "repeat the progress line this often (default 5m; 0 off)")
    p.add_argument("--proceed-on-modified", action="store_true",
                   help="exit 0 for a modified approval too (your pipeline acts on final_action); else 7")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON only, on stdout")
    p.add_argument("--receipt-out", metavar="FILE", help="write the verdict's signed receipt to FILE (removed when "
                                                         "the verdict carries none)")


def _target_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint", default=os.environ.get("COUNTERSIGN_ENDPOINT"),
                   help="AWS endpoint URL (the sandbox's); default: AWS itself")
    p.add_argument("--stack", default=os.environ.get("COUNTERSIGN_STACK"),
                   help=f"stack name (default Countersign-dev, or {SANDBOX_STACK} with --endpoint)")
    p.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))


def _target(args) -> client.Target:
    stack = args.stack or (SANDBOX_STACK if args.endpoint else "Countersign-dev")
    return client.Target.find(stack, args.endpoint, args.region)


def _read(path: str) -> Any:
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise client.ClientError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidProposal([{"path": "$", "message": f"not UTF-8 text (byte {exc.start})"}]) from None
    except json.JSONDecodeError as exc:
        raise InvalidProposal([{"path": "$", "message": f"not valid JSON: {exc.msg} (line {exc.lineno})"}]) from None
    except RecursionError:
        raise InvalidProposal([{"path": "$", "message": "nested too deeply to read"}]) from None


def run_submit(args) -> int:
    try:
        proposal = _read(args.proposal)
        check_shape(proposal)                      # refused before the stack is looked up
        target = _target(args)
        client.check_proposal(target, proposal)
    except InvalidProposal as exc:
        return _invalid(args, exc)
    name = execution_name(proposal, args.idempotency_key)
    _following(args, target, name, None if args.proposal == "-" else args.proposal)
    try:
        arn, fresh = client.start(target, proposal, args.workflow, name, args.idempotency_key)
    except client.KeyReused as exc:
        Following.name = None                           # nothing of ours is open
        return _invalid(args, InvalidProposal([{"path": "$.idempotency_key", "message": str(exc)}]))
    Following.started = True
    err.print(("submitted " if fresh else "already submitted (same idempotency key): ") + arn, markup=False)
    err.print(f"  key {name}: re-attach with {Following.reattach}", markup=False)
    if not args.wait:
        _emit(args, {"outcome": "pending", "executionArn": arn, "key": name, "started": fresh},
              lambda d: out.print(arn, markup=False))
        return client.EXIT_PENDING
    return _follow(args, target, arn, proposal)


def run_wait(args) -> int:
    proposal = _read(args.proposal) if args.proposal else None
    target = _target(args)
    name = args.execution.rsplit(":", 1)[1] if args.execution.startswith("arn:") else execution_name({}, args.execution)
    _following(args, target, name, args.proposal)
    try:
        described = target.sfn.describe_execution(executionArn=Following.arn)
    except target.sfn.exceptions.ExecutionDoesNotExist:
        Following.name = None
        raise client.ClientError(f"no execution {args.execution!r} in {target.stack}") from None
    if proposal is not None and (mismatch := client.bound_elsewhere(described, proposal)):
        Following.name = None                           # not the caller's review: nothing to come back to
        return _invalid(args, InvalidProposal([{"path": "$", "message": mismatch}]))
    Following.started = True
    return _follow(args, target, Following.arn, proposal)


def _following(args, target: client.Target, name: str, proposal_path: str | None) -> None:
    """Remember what is about to be followed, and the exact command that comes back to it."""
    Following.name, Following.arn = name, target.execution_arn(name, args.workflow)
    words = ["countersign", "wait", name]
    for flag, value in (("--proposal", proposal_path), ("--endpoint", args.endpoint), ("--stack", args.stack),
                        ("--region", None if args.endpoint else args.region), ("--workflow", args.workflow)):
        words += [flag, value] if value else []
    words += [flag for flag, on in (("--proceed-on-modified", args.proceed_on_modified), ("--json", args.json)) if on]
    Following.reattach = shlex.join(words)


def _follow(args, target: client.Target, arn: str, proposal: dict[str, Any] | None) -> int:
    """Wait for the verdict, showing progress on stderr; exit with its code. The verdict must be
    bound to the proposal the caller will act on."""
    described = follow.wait(target.sfn, arn, lambda p: err.print(p.describe(), markup=False),
                            pace=follow.pace_for(args.endpoint),
                            heartbeat=None if err.is_terminal or not args.heartbeat else args.heartbeat,
                            on_heartbeat=lambda p, waited: err.print(f"still waiting ({_took(waited)}): "
                                                                     f"{p.describe()}", markup=False))
    if proposal is not None and (mismatch := client.bound_elsewhere(described, proposal)):
        return _invalid(args, InvalidProposal([{"path": "$", "message": mismatch}]))   # never another's verdict
    code, verdict = client.verdict_of(described)
    receipt_commands.save(args, verdict)
    _emit(args, {**verdict, "key": Following.name}, _print_verdict)
    return _acted_on(args, code)


def _took(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m {int(seconds % 60):02d}s"


def _acted_on(args, code: int) -> int:
    """A modified approval exits 0 only for a pipeline that said it acts on final_action."""
    return 0 if code == client.EXIT["modified"] and args.proceed_on_modified else code


def run_status(args) -> int:
    proposal = None
    if args.proposal:
        try:
            proposal = _read(args.proposal)
        except InvalidProposal as exc:
            return _invalid(args, exc)
    target = _target(args)
    arn = target.execution_arn(execution_name({}, args.execution) if not args.execution.startswith("arn:")
                               else args.execution, args.workflow)
    try:
        described = target.sfn.describe_execution(executionArn=arn)
    except target.sfn.exceptions.ExecutionDoesNotExist:
        raise client.ClientError(f"no execution {args.execution!r} in {target.stack}") from None
    if proposal is not None and (mismatch := client.bound_elsewhere(described, proposal)):
        return _invalid(args, InvalidProposal([{"path": "$", "message": mismatch}]))
    if described["status"] == "RUNNING":
        now = follow.progress(target.sfn, arn)
        _emit(args, {"outcome": "pending", "executionArn": arn, "status": "RUNNING", "waiting_on": list(now.waiting_on),
                     "deadline": now.deadline}, lambda d: out.print(now.describe(), markup=False))
        return client.EXIT_PENDING
    code, verdict = client.verdict_of(described)
    _emit(args, verdict, _print_verdict)
    return _acted_on(args, code)


def run_kill_switch(args) -> int:
    target = _target(args)
    if args.state == "status":
        mode = target.ssm.get_parameter(Name=target.outputs["KillSwitchParameterName"])["Parameter"]["Value"]
        out.print({"off": "off: actions are routed by the policy", "human": "on (human): every action goes to a human",
                   "halt": "on (halt): new actions are refused"}.get(mode, mode), markup=False)
        return 0
    mode = "off" if args.state == "off" else args.mode
    record = client.set_kill_switch(target, mode, args.reason)
    out.print(f"kill switch {record['from']} → {record['to']} (audited: {record['stream']}); "
              f"in force within {KILL_SWITCH_CACHE_SECONDS} s, as the functions read it through a cache", markup=False)
    return 0


def run_redrive(args) -> int:
    sweep = client.redrive(_target(args))
    _emit(args, sweep, lambda d: out.print(
        f"redrive: {d['delivered']} delivered, {d['closed']} already closed (followed by the workflow), "
        f"{d['held']} held by a live dispatcher, {d['resumed']} taken over, {d['failed']} failed (AWS errors: "
        f"run it again); dead letters: {d['dead_letters']['cleared']} cleared, {d['dead_letters']['kept']} kept",
        markup=False))
    return 1 if sweep["failed"] else 0


def run_local(args) -> int:
    import socket

    from countersign.sandbox.server import serve

    bad = [c for c in args.context if "=" not in c or not c.split("=", 1)[0].strip()]
    if bad:
        parser().error(f"-c takes KEY=VALUE, as cdk synth does (got {bad[0]!r})")
    for port, flag in ((args.aws_port, "--aws-port"), (args.port, "--port")):   # before a minute of deploying
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as the servers bind: TIME_WAIT is free
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                raise client.ClientError(f"port {port} on 127.0.0.1 is in use (another sandbox?): stop it, or pass "
                                         f"{flag} with a free port") from None
    return serve(port=args.port, aws_port=args.aws_port, overrides=dict(c.split("=", 1) for c in args.context))


def _invalid(args, exc: InvalidProposal) -> int:
    if args.json:
        _write_json({"outcome": "invalid", "executionArn": None, "status": "INVALID", "errors": exc.errors})
    else:
        err.print("[red]invalid proposal[/red] (nothing was started):")
        for e in exc.errors:
            err.print(f"  {e['path']}: {e['message']}", markup=False)
    return client.EXIT_INVALID


def _write_json(document: dict[str, Any]) -> None:
    """Exactly one JSON document on stdout, byte for byte as json.dumps makes it: data is never rendered."""
    sys.stdout.write(json.dumps(document, default=str) + "\n")
    sys.stdout.flush()


def _emit(args, document: dict[str, Any], human) -> None:
    if args.json:
        _write_json(document)
    else:
        human(document)


def _print_verdict(verdict: dict[str, Any]) -> None:
    if "route" not in verdict:      # the execution failed or was refused: no verdict document
        out.print(f"[red]{escape(verdict['status'])}[/red] {escape(str(verdict.get('error')))}: "
                  f"{escape(verdict.get('cause') or '')}")
        return
    colour = {"approved": "green", "modified": "green", "auto_approved": "green"}.get(verdict["outcome"], "red")
    out.print(f"[{colour}]{escape(verdict['outcome'])}[/{colour}] via {escape(verdict['route'])} "
              f"(policy {escape(str(verdict['policy_version']))})")
    for reviewer in verdict.get("reviewers", []):
        out.print(f"  {reviewer['id']}: {reviewer['decision']} — {reviewer.get('rationale') or 'no rationale'}",
                  markup=False)
    out.print(json.dumps(verdict.get("final_action"), indent=2), markup=False)
    execution = verdict.get("execution")
    if execution and execution["status"] == "failed":
        out.print(f"[red]the executor failed[/red] ({escape(execution['phase'])}): {escape(execution['error'])}: "
                  f"{escape(execution['message'])}")


if __name__ == "__main__":
    sys.exit(main())
