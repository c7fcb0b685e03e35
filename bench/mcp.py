"""An agent's tool call through `countersign mcp` against `countersign submit --wait`, in the sandbox.

Starts ``countersign local`` as bench/sandbox.py does, with a policy whose ``ticket.reply`` (low
risk, threshold 0.9, no spot checks, a demo executor) auto-approves a confidence of 0.97. Then:

1. Round trip, N each (``--calls``, default 20), interleaved: one ``ticket_reply`` tool call from the
   MCP SDK's client over stdio to one running ``countersign mcp`` (submitted, auto-approved, the
   executor's result back), against ``countersign submit FILE --wait --json`` of the same proposal as
   a pipeline runs it (a new process each time, so its interpreter start is in the figure). Also the
   interpreter start alone (``python -m countersign --help``) and the submit less it. Ratios of p50s:
   the tool call over the submit, and over the submit less its interpreter start.
2. Concurrency (``--concurrent``, default 50): that many tool calls at once through one server; all
   answered, p50 and p95 of each call's time, and the wall time.

Every answer is checked (auto-approved, the executor's result present); a failure is counted and
printed. It only prints; exit 0.

Run:  python bench/mcp.py [--calls 20] [--concurrent 50]
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# this file is named like the MCP SDK's package: look for the SDK first, for bench/sandbox.py after it
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import anyio  # noqa: E402
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402
from sandbox import ROOT, Sandbox, ms, percentile  # noqa: E402

REPLY = {"type": "object", "required": ["ticket_id", "body"],
         "properties": {"ticket_id": {"type": "string"}, "body": {"type": "string"}}}
POLICY = {"default": {"auto_approve_threshold": 0.9, "review_timeout_seconds": 3600, "reversible": True},
          "action_types": {"ticket.reply": {"description": "Reply to a customer's support ticket.", "risk": "low",
                                            "parameters": REPLY}}}
PARAMETERS = {"ticket_id": "8812", "body": "We found the duplicate charge and refunded it."}


def arguments(marker: str) -> dict:
    return {"parameters": PARAMETERS, "confidence": 0.97, "summary": f"Reply {marker}",
            "reasoning": "The refund went through.", "evidence": []}


def proposal(marker: str) -> dict:
    """The tool call's arguments as the proposal file a pipeline submits."""
    args = arguments(marker)
    return {"schema_version": "1", "action": {"type": "ticket.reply", "summary": args["summary"],
                                              "parameters": PARAMETERS},
            "confidence": args["confidence"], "reasoning": args["reasoning"], "evidence": []}


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


def auto_approved(doc: dict) -> bool:
    return doc.get("outcome") == "auto_approved" and bool(doc.get("result", {}).get("message_id"))


def submit(sandbox: Sandbox, folder: Path) -> tuple[float, bool]:
    path = folder / f"{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps(proposal(path.stem)))
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "countersign", "submit", str(path), "--wait", "--json",
                           "--endpoint", sandbox.aws], cwd=ROOT, env=env(), capture_output=True, text=True)
    took = time.perf_counter() - began
    verdict = json.loads(done.stdout or "{}")
    return took, done.returncode == 0 and verdict.get("outcome") == "auto_approved"


def interpreter_start() -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "countersign", "--help"], cwd=ROOT, env=env(), capture_output=True,
                   check=True)
    return time.perf_counter() - began


async def call(session: ClientSession) -> tuple[float, bool]:
    began = time.perf_counter()
    result = await session.call_tool("ticket_reply", arguments(uuid.uuid4().hex[:8]))
    return time.perf_counter() - began, not result.isError and auto_approved(result.structuredContent or {})


async def measure(sandbox: Sandbox, calls: int, concurrent: int) -> dict:
    server = StdioServerParameters(command=sys.executable, args=["-m", "countersign", "mcp", "--endpoint",
                                                                 sandbox.aws], cwd=str(ROOT), env=env())
    figures: dict[str, list] = {"tool": [], "submit": [], "start": [], "concurrent": [], "failed": []}
    began = time.perf_counter()
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        figures["server_start"] = time.perf_counter() - began
        with tempfile.TemporaryDirectory() as folder:
            await call(session)                                # one warm-up each, not counted
            await anyio.to_thread.run_sync(submit, sandbox, Path(folder))
            for _ in range(calls):                             # interleaved, so load falls on both alike
                for name, took_ok in (("tool", await call(session)),
                                      ("submit", await anyio.to_thread.run_sync(submit, sandbox, Path(folder))),
                                      ("start", (await anyio.to_thread.run_sync(interpreter_start), True))):
                    figures[name].append(took_ok[0])
                    if not took_ok[1]:
                        figures["failed"].append(name)

        async def one() -> None:
            took, ok = await call(session)
            figures["concurrent"].append(took)
            if not ok:
                figures["failed"].append("concurrent")

        began = time.perf_counter()
        async with anyio.create_task_group() as tasks:
            for _ in range(concurrent):
                tasks.start_soon(one)
        figures["concurrent_wall"] = time.perf_counter() - began
    return figures


def report(f: dict, concurrent: int) -> None:
    p50 = {name: percentile(f[name], 50) for name in ("tool", "submit", "start")}
    less_start = [s - percentile(f["start"], 50) for s in f["submit"]]
    print(f"countersign mcp started and initialized in {ms(f['server_start']):.0f} ms (not counted)")
    print(f"{'round trip, auto-approved':<44}{'n':>4}{'p50 ms':>10}{'p95 ms':>10}")
    for label, values in (("tool call in a running server", f["tool"]),
                          ("countersign submit --wait (a new process)", f["submit"]),
                          ("python -m countersign --help (start)", f["start"]),
                          ("submit less the start's p50", less_start)):
        print(f"{label:<44}{len(values):>4}{ms(percentile(values, 50)):>10.0f}{ms(percentile(values, 95)):>10.0f}")
    print(f"ratio tool / submit: {p50['tool'] / p50['submit']:.2f}   "
          f"tool / (submit less the start): {p50['tool'] / percentile(less_start, 50):.2f}   (target <= 1.2)")
    answered = len(f["concurrent"])
    print(f"{concurrent} concurrent tool calls, one server: {answered} of {concurrent} answered, "
          f"p50 {ms(percentile(f['concurrent'], 50)):.0f} ms, p95 {ms(percentile(f['concurrent'], 95)):.0f} ms, "
          f"wall {f['concurrent_wall']:.1f} s")
    print(f"failed answers: {len(f['failed'])}" + (f" ({', '.join(f['failed'])})" if f["failed"] else ""))


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--calls", type=int, default=20, help="round trips of each kind (20)")
    cli.add_argument("--concurrent", type=int, default=50, help="tool calls at once through one server (50)")
    args = cli.parse_args()
    sandbox = Sandbox([f"policy={json.dumps(POLICY)}"])
    try:
        print(f"sandbox started in {sandbox.start():.1f} s")
        report(anyio.run(measure, sandbox, args.calls, args.concurrent), args.concurrent)
    finally:
        code, seconds, stopped = sandbox.stop()
        print(f"sandbox stopped: exit {code} in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
