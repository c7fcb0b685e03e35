"""End-to-end latency and scale of the local sandbox (``countersign local``), driven over HTTP.

Starts ``python -m countersign local`` as a subprocess on free ports, exactly as
tests/e2e/test_sandbox.py does (default cdk.json context: refund.issue is irreversible, so the
example refund at 0.72 goes to a human; reviewers alice and bob), then:

1. Latency, over N proposals one after the other (``--proposals``, default 200). Each is a copy of
   examples/refund.json with a unique summary, started with boto3 ``start_execution`` against the
   sandbox's AWS endpoint. Measured:
     submit -> email   from the start_execution call to alice's email showing in /outbox.json
                       (polled back to back, 5 ms apart; the whole outbox, as a user's script sees it)
     POST decision     the approve POST to /reviews/<id>/decision (form token from the link's t=)
     POST -> SUCCEEDED from the POST returning to describe_execution saying SUCCEEDED (5 ms polls;
                       stream records reach the dispatcher in the background, as in AWS)
   then 200 raw UpdateItem calls on a scratch table (bench/raw_write.py), and the POST's p50 as a
   multiple of theirs.
   p50, p95 and max in milliseconds, plus the cost of one /outbox.json fetch as the outbox grows.
2. Burst (``--burst``, default 100): that many page views of one review, all in flight at once, then
   that many decision POSTs on it (bench/burst.py): answered or not, status codes, latencies.
3. Scale (``--pending``, default 1,000): start that many executions at once (a small thread pool),
   wait until each has alice's email in the outbox, approve them all through the review page POST,
   wait until all are SUCCEEDED. Reports started / notified / decided (HTTP 200) / SUCCEEDED / lost,
   the wall-clock time of each phase and the sandbox's resident memory and threads after it. An
   execution that ends without an email is counted, not waited for. The whole scale run is bounded
   by ``--timeout`` seconds (default 1200; the last phase always gets 60 s more): when it runs out,
   the phase stops where it is and the report shows what was reached.

The sandbox's output is drained while it runs; exceptions it printed (tracebacks' last lines) are
counted in the report. Finally the sandbox is stopped with SIGINT (as Ctrl-C) and its exit code is
reported. It only prints; exit 0.

4. Email cost (``--mail N``, default off): N pending reviews in each notify mode, each in a sandbox
   of its own (bench/mail.py): how many emails the stack sends, and how long SNS's ~10 emails/s takes.

Run:  python bench/sandbox.py [--proposals 200] [--burst 100] [--pending 1000] [--timeout 1200] [--workers 8]
                             [--mail 1000 [--mail-urgent 0.1]]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[1]
REVIEWER = "alice"                      # the first reviewer mailed; bob's email follows it
MARKER = re.compile(r"Refund case (\S+)")
EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b")   # the last line of a traceback
POLL = 0.005


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ms(seconds: float) -> float:
    return seconds * 1000.0


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


class Sandbox:
    """``countersign local`` in a subprocess. Its output (one line per HTTP request) is drained by a
    thread, otherwise the pipe fills after a few thousand requests and the sandbox blocks on it."""

    def __init__(self, overrides: list[str] = ()) -> None:
        self.overrides = [arg for kv in overrides for arg in ("-c", kv)]   # context, as KEY=VALUE
        self.port, self.aws_port = free_port(), free_port()
        self.web, self.aws = f"http://127.0.0.1:{self.port}", f"http://127.0.0.1:{self.aws_port}"
        self.tail: collections.deque[str] = collections.deque(maxlen=200)
        self.lines = 0
        self.errors: collections.Counter[str] = collections.Counter()   # exception lines it printed
        self.proc: subprocess.Popen | None = None
        self.drain: threading.Thread | None = None

    def start(self, timeout: float = 180) -> float:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("AWS_ENDPOINT_URL", None)
        began = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "countersign", "local", "--port", str(self.port),
                                      "--aws-port", str(self.aws_port), *self.overrides], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     # a shell's background job inherits SIGINT ignored; Ctrl-C must work
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        banner = []
        while time.monotonic() - began < timeout:
            line = self.proc.stdout.readline()
            banner.append(line)
            if "Press Ctrl-C to stop." in line or (not line and self.proc.poll() is not None):
                break
        if "Press Ctrl-C to stop." not in "".join(banner):
            self.proc.kill()
            raise SystemExit("the sandbox did not start:\n" + "".join(banner)[-3000:])
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()
        return time.monotonic() - began

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self.lines += 1
            self.tail.append(line)
            if EXCEPTION.match(line):
                self.errors[line.strip()[:160]] += 1

    def stop(self, timeout: float = 300) -> tuple[int | None, float, bool]:
        """SIGINT, like Ctrl-C; returns (exit code or None, seconds, printed "stopped.")."""
        began = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        self.drain.join(timeout=10)
        return code, time.monotonic() - began, any("stopped." in line for line in self.tail)

    def memory(self) -> tuple[float, int]:
        """(resident MiB, threads) of the sandbox process, from /proc (nan, 0 where there is none)."""
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return float("nan"), 0
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"])

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Driver:
    """What a pipeline (boto3 against the AWS endpoint) and a reviewer (HTTP) do."""

    def __init__(self, sandbox: Sandbox, workers: int) -> None:
        self.sandbox = sandbox
        self.sfn = boto3.client("stepfunctions", endpoint_url=sandbox.aws, region_name="us-east-1",
                                aws_access_key_id="sandbox", aws_secret_access_key="sandbox",
                                config=Config(max_pool_connections=max(10, workers * 2),
                                              retries={"mode": "standard", "max_attempts": 3},
                                              connect_timeout=10, read_timeout=120))
        self.machine = self.sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
        self.template = json.loads((ROOT / "examples" / "refund.json").read_text())
        self.fetches: list[tuple[float, int, int]] = []     # (seconds, bytes, emails) per outbox fetch

    def start(self, marker: str, risk: str | None = None) -> str:
        doc = json.loads(json.dumps(self.template))
        doc["action"]["summary"] = f"Refund case {marker}"
        doc["confidence"] = 0.72
        if risk:
            doc["risk"] = risk
        try:
            return self.sfn.start_execution(stateMachineArn=self.machine, name=marker,
                                            input=json.dumps(doc))["executionArn"]
        except self.sfn.exceptions.ExecutionAlreadyExists:   # a retried call that had got through
            return self.machine.replace(":stateMachine:", ":execution:") + ":" + marker

    def outbox(self) -> list[dict]:
        began = time.perf_counter()
        with urllib.request.urlopen(self.sandbox.web + "/outbox.json", timeout=120) as got:
            raw = got.read()
        emails = json.loads(raw)
        self.fetches.append((time.perf_counter() - began, len(raw), len(emails)))
        return emails

    def links(self, emails: list[dict], reviewer: str = REVIEWER) -> dict[str, str]:
        """marker -> the reviewer's link, for every email in the outbox."""
        found = {}
        for email in emails:
            hit = MARKER.search(email["subject"])
            if hit and email["reviewer"] == reviewer and email["links"]:
                found[hit.group(1)] = email["links"][0]
        return found

    def decide(self, link: str) -> int:
        """Approve through the review page's form. The GET is skipped: the form posts the link's token."""
        token = parse_qs(urlsplit(link).query)["t"][0]
        body = urlencode({"t": token, "decision": "approve", "rationale": "bench: approved"}).encode()
        post = urllib.request.Request(link.split("?", 1)[0] + "/decision", data=body,
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(post, timeout=120) as got:
                got.read()
                return got.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return -1

    def statuses(self) -> dict[str, str]:
        """execution name -> status, for every execution of the gate."""
        found = {}
        for page in self.sfn.get_paginator("list_executions").paginate(stateMachineArn=self.machine,
                                                                      PaginationConfig={"PageSize": 1000}):
            for e in page["executions"]:
                found[e["name"]] = e["status"]
        return found


# 1. latency ------------------------------------------------------------------------------------

def latency(driver: Driver, count: int, email_poll: float = POLL, per_step_timeout: float = 60) -> dict:
    to_email, post, to_done, failures = [], [], [], collections.Counter()
    fetches_before = len(driver.fetches)
    run = uuid.uuid4().hex[:6]
    began = time.monotonic()
    for i in range(count):
        if i and i % 50 == 0:
            print(f"  latency: {i}/{count} proposals, {time.monotonic() - began:.0f} s", flush=True)
        marker = f"lat-{run}-{i:05d}"
        t_submit = time.perf_counter()
        try:
            arn = driver.start(marker)
        except Exception as exc:
            failures[f"start {type(exc).__name__}"] += 1
            continue
        link = None
        while time.perf_counter() - t_submit < per_step_timeout:
            link = driver.links(driver.outbox()).get(marker)
            if link:
                break
            time.sleep(email_poll)
        t_email = time.perf_counter()
        if not link:
            failures["no email"] += 1
            continue
        to_email.append(ms(t_email - t_submit))
        t_post = time.perf_counter()
        status = driver.decide(link)
        t_posted = time.perf_counter()
        if status != 200:
            failures[f"POST {status}"] += 1
            continue
        post.append(ms(t_posted - t_post))
        while True:
            described = driver.sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING" or time.perf_counter() - t_posted > per_step_timeout:
                break
            time.sleep(POLL)
        t_done = time.perf_counter()
        if described["status"] != "SUCCEEDED":
            failures[described["status"]] += 1
            continue
        to_done.append(ms(t_done - t_posted))
    fetches = driver.fetches[fetches_before:]
    return {"to_email": to_email, "post": post, "to_done": to_done, "failures": failures,
            "seconds": time.monotonic() - began, "fetches": fetches}


# 2. scale --------------------------------------------------------------------------------------

def scale(driver: Driver, count: int, workers: int, budget: float, grace: float = 60) -> dict:
    """Start ``count`` executions, wait for their emails, approve them all, wait for the ends.
    ``budget`` bounds the whole run; the last phase always gets ``grace`` seconds to see what finished."""
    run = uuid.uuid4().hex[:6]
    markers = [f"pend-{run}-{i:05d}" for i in range(count)]
    result: dict = {"requested": count, "phases": {}, "timeouts": [], "memory": {}}
    all_began = time.monotonic()
    deadline = all_began + budget

    def left() -> float:
        return max(0.0, deadline - time.monotonic())

    def progress(what: str, done: int, total: int, began: float, last: list[float]) -> None:
        now = time.monotonic()
        if now - last[0] >= 15:
            last[0] = now
            print(f"  {what}: {done}/{total} after {now - began:.0f} s", flush=True)

    def pooled(name: str, work, items: list[str]) -> None:
        """Run work(item) on a small pool until done or out of budget (then cancel what has not begun)."""
        began, last = time.monotonic(), [time.monotonic()]
        with ThreadPoolExecutor(workers) as pool:
            futures = [pool.submit(work, item) for item in items]
            for n, f in enumerate(futures, 1):
                try:
                    f.result(timeout=left())
                except Exception:
                    result["timeouts"].append(name)
                    for g in futures:
                        g.cancel()
                    break
                progress(name, n, len(items), began, last)
        result["phases"][name] = time.monotonic() - began
        result["memory"][name] = driver.sandbox.memory()

    # 1. start all, as fast as a small pool can
    started: dict[str, str] = {}
    errors: collections.Counter = collections.Counter()

    def start(marker: str) -> None:
        try:
            started[marker] = driver.start(marker)
        except Exception as exc:   # counted, not fatal
            errors[type(exc).__name__] += 1

    pooled("start", start, markers)
    result["started"], result["start_errors"] = len(started), errors

    # 2. wait until every started execution has its email, or has ended without one (it never will)
    began, last = time.monotonic(), [time.monotonic()]
    links: dict[str, str] = {}
    ended_unnotified: dict[str, str] = {}
    while True:
        emails = driver.outbox()
        mine = driver.links(emails)
        links = {m: mine[m] for m in started if m in mine}
        statuses = driver.statuses()
        ended_unnotified = {m: statuses.get(m, "MISSING") for m in started
                            if m not in links and statuses.get(m, "MISSING") != "RUNNING"}
        progress("notified", len(links), len(started), began, last)
        if len(links) + len(ended_unnotified) >= len(started):
            break
        if not left():
            result["timeouts"].append("notify")
            break
        time.sleep(max(0.5, 2 * driver.fetches[-1][0]))      # leave the sandbox some room between fetches
    result["phases"]["notify"] = time.monotonic() - began
    result["memory"]["notify"] = driver.sandbox.memory()
    result["notified"], result["ended_unnotified"] = len(links), collections.Counter(ended_unnotified.values())
    result["notified_both"] = len(set(links) & set(driver.links(emails, "bob")))
    result["outbox_at_end"] = driver.fetches[-1]

    # 3. approve every notified review through the review page
    codes: collections.Counter = collections.Counter()

    def decide(marker: str) -> None:
        codes[driver.decide(links[marker])] += 1

    pooled("decide", decide, list(links))
    result["decided"], result["codes"] = codes.get(200, 0), codes

    # 4. wait until every decided execution has finished
    began, last = time.monotonic(), [time.monotonic()]
    stop_at = max(deadline, began + grace)
    while True:
        statuses = driver.statuses()
        mine = {m: statuses.get(m, "MISSING") for m in started}
        progress("completed", sum(1 for s in mine.values() if s == "SUCCEEDED"), len(started), began, last)
        if not any(mine[m] == "RUNNING" for m in links):
            break
        if time.monotonic() > stop_at:
            result["timeouts"].append("complete")
            break
        time.sleep(0.5)
    result["phases"]["complete"] = time.monotonic() - began
    result["memory"]["complete"] = driver.sandbox.memory()
    result["total"] = time.monotonic() - all_began
    census = collections.Counter(mine.values())
    result["census"] = census
    result["succeeded"] = census.get("SUCCEEDED", 0)
    result["lost"] = count - result["succeeded"]
    return result


# report ----------------------------------------------------------------------------------------

def row(label: str, values: list[float]) -> str:
    return (f"{label:<26}{len(values):>6}{percentile(values, 50):>10.1f}{percentile(values, 95):>10.1f}"
            f"{(max(values) if values else float('nan')):>10.1f}")


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--proposals", type=int, default=200, help="sequential proposals for latency (200)")
    cli.add_argument("--pending", type=int, default=1000, help="executions pending at once for scale (1000)")
    cli.add_argument("--timeout", type=float, default=1200,
                     help="limit for the whole scale run, seconds (1200); the last phase gets 60 s more")
    cli.add_argument("--workers", type=int, default=8, help="threads that start and decide in the scale run (8)")
    cli.add_argument("--burst", type=int, default=100, help="page views and POSTs at once on one review (100)")
    cli.add_argument("--email-poll", type=float, default=POLL,
                     help="pause between /outbox.json fetches in the latency run, seconds (0.005)")
    cli.add_argument("--mail", type=int, default=0,
                     help="pending reviews whose email cost is counted in each notify mode, two more sandboxes (0)")
    cli.add_argument("--mail-urgent", type=float, default=0.1, help="share of them that is urgent (risk high) (0.1)")
    args = cli.parse_args()

    wall = time.monotonic()
    sandbox = Sandbox()
    print(f"starting the sandbox (python -m countersign local --port {sandbox.port} "
          f"--aws-port {sandbox.aws_port})...", flush=True)
    lat = big = hit = None
    boot = float("nan")
    try:
        boot = sandbox.start()
        print(f"  ready in {boot:.1f} s", flush=True)
        driver = Driver(sandbox, args.workers)
        if args.proposals > 0:
            print(f"latency: {args.proposals} proposals, one after the other", flush=True)
            try:
                lat = latency(driver, args.proposals, args.email_poll)
                lat["memory"] = sandbox.memory()
                from raw_write import update_item_ms
                lat["raw"] = update_item_ms(sandbox.aws)
            except Exception:   # report and go on: the benchmark always finishes
                traceback.print_exc(file=sys.stdout)
        if args.burst > 0:
            from burst import burst
            print(f"burst: {args.burst} page views, then {args.burst} decisions, on one review", flush=True)
            hit = burst(driver, args.burst)
        if args.pending > 0:
            print(f"scale: {args.pending} executions pending at once ({args.workers} threads, "
                  f"budget {args.timeout:g} s)", flush=True)
            try:
                big = scale(driver, args.pending, args.workers, args.timeout)
            except Exception:
                traceback.print_exc(file=sys.stdout)
    finally:
        if sandbox.proc is not None and sandbox.proc.poll() is None:
            print("stopping the sandbox (SIGINT)...", flush=True)
            code, stop_seconds, said_stopped = sandbox.stop()
        else:
            code, stop_seconds, said_stopped = (sandbox.proc.returncode if sandbox.proc else None), 0.0, False
        sandbox.kill()

    print(f"\nCountersign sandbox benchmark  (sandbox boot {boot:.1f} s; {os.cpu_count()} CPUs)\n")
    if lat is not None:
        print(f"Latency, {args.proposals} proposals in sequence ({lat['seconds']:.1f} s), milliseconds")
        header = f"{'':<26}{'n':>6}{'p50':>10}{'p95':>10}{'max':>10}"
        print(header)
        print("-" * len(header))
        print(row("submit -> email", lat["to_email"]))
        quarter = max(1, len(lat["to_email"]) // 4)
        print(row("  first quarter", lat["to_email"][:quarter]))
        print(row("  last quarter", lat["to_email"][-quarter:]))
        print(row("POST decision", lat["post"]))
        print(row("POST -> SUCCEEDED", lat["to_done"]))
        print(row("raw moto UpdateItem", lat["raw"]))
        print(f"POST decision p50 / raw UpdateItem p50: "
              f"{percentile(lat['post'], 50) / percentile(lat['raw'], 50):.1f}x")
        if lat["failures"]:
            print(f"failures: {dict(lat['failures'])}")
        f = lat["fetches"]
        if f:
            first, final = f[0], f[-1]
            per = [ms(s) for s, _, _ in f]
            print(f"outbox polls: {len(f)} fetches of /outbox.json, {percentile(per, 50):.1f} ms p50 / "
                  f"{max(per):.1f} ms max; first {first[2]} emails ({first[1] / 1024:.0f} KiB, "
                  f"{ms(first[0]):.1f} ms), last {final[2]} emails ({final[1] / 1024:.0f} KiB, {ms(final[0]):.1f} ms)")
        print(f"sandbox after the latency run: {lat['memory'][0]:.0f} MiB resident, {lat['memory'][1]} threads")
        print()
    if hit is not None:
        print(f"Burst on one review: answered {sum(s > 0 for s, _ in hit['views'] + hit['posts'])} of "
              f"{2 * args.burst}; status codes {dict(hit['codes'])}")
        print(row("  GET page (ms)", [ms for _, ms in hit["views"]]))
        print(row("  POST decision (ms)", [ms for _, ms in hit["posts"]]))
        print()
    if big is not None:
        print(f"Scale, {big['requested']} executions pending at once ({args.workers} threads)")
        header = f"{'phase':<36}{'count':>8}{'wall s':>10}{'per s':>10}{'sandbox RSS MiB':>17}{'threads':>9}"
        print(header)
        print("-" * len(header))
        ph = big["phases"]
        for label, count, key in (("started", big["started"], "start"),
                                  ("notified (alice's email in outbox)", big["notified"], "notify"),
                                  ("decided (POST answered 200)", big["decided"], "decide"),
                                  ("completed SUCCEEDED", big["succeeded"], "complete")):
            seconds = ph.get(key, float("nan"))
            rate = count / seconds if seconds > 0 else float("nan")
            rss, threads = big["memory"].get(key, (float("nan"), 0))
            print(f"{label:<36}{count:>8}{seconds:>10.1f}{rate:>10.1f}{rss:>17.0f}{threads:>9}")
        print(f"{'lost (not SUCCEEDED)':<36}{big['lost']:>8}")
        print(f"{'total':<36}{'':>8}{big['total']:>10.1f}{big['succeeded'] / big['total']:>10.1f}")
        print(f"final statuses: {dict(big['census'])}; decision answers: {dict(big['codes'])}")
        if big["ended_unnotified"]:
            print(f"ended before any email: {dict(big['ended_unnotified'])}")
        print(f"both reviewers mailed: {big['notified_both']}")
        if big["start_errors"]:
            print(f"start errors: {dict(big['start_errors'])}")
        seconds, size, emails = big["outbox_at_end"]
        print(f"outbox at the end of notify: {emails} emails, {size / 1024:.0f} KiB, fetched in {ms(seconds):.0f} ms")
        if big["timeouts"]:
            print(f"TIMEOUT in: {', '.join(big['timeouts'])} (budget {args.timeout:g} s); "
                  "the counts above are what was reached")
        print()
    if sandbox.errors:
        print(f"exceptions the sandbox printed ({sum(sandbox.errors.values())}):")
        for line, n in sandbox.errors.most_common(5):
            print(f"  {n:>5} x {line}")
        print()
    if args.mail > 0:
        from mail import one_mode, report
        print(f"mail: {args.mail} pending reviews in each notify mode", flush=True)
        report([one_mode(Sandbox, Driver, mode, args.mail, args.mail_urgent, args.workers, args.timeout)
                for mode in ("each", "digest")])
    print(f"sandbox stop (SIGINT): exit {code}, {stop_seconds:.1f} s, "
          f"{'printed' if said_stopped else 'did NOT print'} 'stopped.'; {sandbox.lines} log lines after the banner")
    print(f"total run time {time.monotonic() - wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
