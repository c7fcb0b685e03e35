"""``countersign local``: the whole stack on one machine, in the foreground.

A moto server in this process (Step Functions interpreter on, Lambda handlers in-process) holds
the resources of the synthesized CDK template, deployed through moto's CloudFormation exactly as
the tests deploy it. An HTTP front serves the review API (requests become API Gateway events
for the same handlers) and an outbox of every email the stack sent.
"""
from __future__ import annotations

import json
import logging
import re
import os
import shutil
import signal
import subprocess
import sys
import warnings
import tempfile
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Event, Thread
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from countersign.sandbox.api_gateway import request

STACK = "Countersign-sandbox"
REGION = "us-east-1"


def start_aws(aws_port: int):
    """The local AWS endpoint, configured like the tests' mock."""
    os.environ.update({"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox",
                       "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "MOTO_PORT": str(aws_port),
                       "AWS_ENDPOINT_URL": f"http://127.0.0.1:{aws_port}"})
    os.environ.pop("AWS_PROFILE", None)
    from moto.core.config import default_user_config
    from moto.server import ThreadedMotoServer

    from countersign.sandbox import moto_patches

    default_user_config["stepfunctions"]["execute_state_machine"] = True   # the tests' mock config
    default_user_config["iam"]["load_aws_managed_policies"] = True
    for noisy in ("werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    # the interpreter logs every IsPresent miss on a Choice as an ERROR; outcomes show in the executions
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", message="Tried to parse AWS::")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=aws_port, verbose=False)
    server.start()
    moto_patches.apply()
    moto_patches.deliver_streams_in_background()   # as AWS does; the tests deliver inline
    return server


def deploy_stack(port: int, overrides: dict[str, Any]):
    """Synthesize with ``python app.py`` (exactly what ``cdk synth`` runs), then deploy into moto."""
    from countersign.sandbox.harness import Harness
    from countersign.sandbox.synth import ROOT, Synthesized

    import boto3

    from countersign.evidence import trail
    from countersign.sandbox import executors
    from countersign.sandbox.synth import context

    outdir = Path(tempfile.mkdtemp(prefix="countersign-sandbox-"))
    overrides = {"verdict_destinations": "[]", **overrides}   # it has no network to deliver verdicts to
    policy = overrides.get("policy", context()["policy"])     # the example action types get demo executors
    account = boto3.client("sts").get_caller_identity()["Account"]
    policy = executors.with_demo_executors(json.loads(policy) if isinstance(policy, str) else policy, account, REGION)
    overrides["policy"] = json.dumps(policy)
    args = [arg for key, value in overrides.items() for arg in ("-c", f"{key}={value}")]
    done = subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "CDK_OUTDIR": str(outdir),
                               "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"})
    if done.returncode != 0:
        raise SystemExit(f"synth failed:\n{done.stderr[-3000:]}")
    [template] = outdir.glob("*.template.json")
    synthesized = Synthesized(None, json.loads(template.read_text()), outdir)
    harness = Harness.deploy(synthesized, review_base_url=f"http://127.0.0.1:{port}")
    receipt_key = boto3.client("kms").get_public_key(KeyId=harness.deployment.outputs["ReceiptKeyArn"])["PublicKey"]
    executors.create(policy, boto3.client("lambda"), boto3.client("iam"), trail.pem(receipt_key))
    return harness


def effects() -> list[dict[str, Any]]:
    """What the demo executors did, newest first (as the outbox lists emails)."""
    from countersign.sandbox.executors import LEDGER

    return list(reversed(LEDGER.records()))


def outbox(harness) -> list[dict[str, Any]]:
    return [{"to": e.to, "reviewer": e.reviewer, "subject": e.subject, "body": e.body, "links": e.links,
             "inbox": e.inbox,
             "sent_at": datetime.fromtimestamp(e.sent_at, timezone.utc).isoformat(timespec="milliseconds")}
            for e in reversed(harness.emails())]


def front(harness):
    """The HTTP handler: review API routes from the template, plus the outbox."""
    from jinja2 import Environment, FileSystemLoader

    pages = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True)

    class Front(BaseHTTPRequestHandler):
        server_version = "countersign-sandbox"

        def _send(self, status: int, body: str, content_type: str, headers: dict[str, str] | None = None):
            data = body.encode()
            self.send_response(status)
            for name, value in {"Content-Type": content_type, **(headers or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _route(self):
            parts = urlsplit(self.path)
            if parts.path in ("/", "/outbox"):
                emails = [{**e, "sent": e["sent_at"]} for e in outbox(harness)]
                return self._send(200, pages.get_template("outbox.html.j2").render(emails=emails),
                                  "text/html; charset=utf-8")
            if parts.path == "/outbox.json":
                return self._send(200, json.dumps(outbox(harness)), "application/json")
            if parts.path == "/effects":
                return self._send(200, pages.get_template("effects.html.j2").render(
                    effects=[{**e, "shown": json.dumps(e["result"], indent=2)} for e in effects()]),
                    "text/html; charset=utf-8")
            if parts.path == "/effects.json":
                return self._send(200, json.dumps(effects()), "application/json")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            answer = request(harness.routes, self.command, parts.path, dict(parse_qsl(parts.query)), body,
                             {k: v for k, v in self.headers.items()}, self.client_address[0])
            headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-type"}
            self._send(answer.status, answer.body, answer.headers.get("Content-Type", "text/plain"), headers)

        do_GET = do_HEAD = do_POST = _route

        def log_message(self, fmt, *args):  # request lines without query strings (they hold link tokens)
            sys.stderr.write(f"  {self.command} {urlsplit(self.path).path} -> {args[1] if len(args) > 1 else ''}\n")

    return Front


class FrontServer(ThreadingHTTPServer):
    """A thread per request, and a listen backlog deep enough for a burst of reviewers: with the
    default of 5, a burst of 50 clicks saw connections reset before any answer."""

    request_queue_size = 1024
    daemon_threads = True


def schedules(harness) -> list[tuple[int, str, str]]:
    """The template's scheduled EventBridge rules, as (seconds, target function, its handler), so
    the sandbox runs them the way EventBridge would."""
    resources = harness.deployment.template["Resources"]
    found = []
    for rule in (r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"):
        rate = re.match(r"rate\((\d+) (minute|minutes|hour|hours)\)", rule.get("ScheduleExpression", ""))
        if not rate or rule.get("State") == "DISABLED":
            continue
        seconds = int(rate[1]) * (60 if rate[2].startswith("minute") else 3600)
        for target in rule.get("Targets", []):
            logical = target["Arn"]["Fn::GetAtt"][0]
            found.append((seconds, harness.deployment.resources[logical], resources[logical]["Properties"]["Handler"]))
    return found


def run_schedules(harness, stop: Event) -> list[tuple[int, str, str]]:
    import boto3

    def every(seconds: int, function: str) -> None:
        while not stop.wait(seconds):
            event = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {},
                     "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            boto3.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event))

    found = schedules(harness)
    for seconds, function, _handler in found:
        Thread(target=every, args=(seconds, function), daemon=True).start()
    return found


def this_command() -> str:
    """How the user ran us (``.venv/bin/countersign`` under ``make local``), so the printed
    command works when pasted as it is, with no virtual environment activated."""
    program = sys.argv[0]
    if program.endswith("__main__.py"):
        return f"{os.path.relpath(sys.executable)} -m countersign"
    on_path = shutil.which(os.path.basename(program))
    if on_path and os.path.samefile(on_path, program):
        return os.path.basename(program)
    return os.path.relpath(program)


def serve(port: int = 8000, aws_port: int = 5000, overrides: dict[str, Any] | None = None) -> int:
    print("starting the local AWS endpoint and deploying the stack (about 15 s)...", flush=True)
    aws = start_aws(aws_port)
    harness = deploy_stack(port, overrides or {})
    http = FrontServer(("127.0.0.1", port), front(harness))
    Thread(target=http.serve_forever, daemon=True).start()
    stop = Event()
    scheduled = run_schedules(harness, stop)
    base = f"http://127.0.0.1:{port}"
    endpoint = f"http://127.0.0.1:{aws_port}"
    print(f"""
Countersign sandbox is running: stack {STACK}, no AWS account needed.
  review pages  {base}/reviews/<review-id>?t=<link token>   (the links arrive by email)
  outbox        {base}/outbox      every email the stack sent ({base}/outbox.json for scripts)
  effects       {base}/effects     what the demo executors did, once per approved action ({base}/effects.json)
  AWS endpoint  {endpoint}        for other AWS tools, first: export AWS_ENDPOINT_URL={endpoint} \\
                                   AWS_ACCESS_KEY_ID=sandbox AWS_SECRET_ACCESS_KEY=sandbox AWS_DEFAULT_REGION={REGION}
                                   then e.g.: aws stepfunctions list-state-machines
  schedules     {", ".join(f"{h.split('.')[1]} every {s // 60} min" for s, _, h in scheduled) or "none"}  (EventBridge rules)
Try it:
  {this_command()} submit examples/refund.json --wait --endpoint {endpoint}
Press Ctrl-C to stop.""", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        Event().wait()
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
    finally:
        stop.set()
        http.shutdown()
        aws.stop()
        print("stopped.", flush=True)
    return 0
