"""What the end-to-end tests do as a pipeline and a reviewer would: write a proposal, run the CLI
in a clean environment, read the outbox, decide over HTTP or in a real headless Chromium."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest

from tests.helpers import REASONS, ctrl_c_works, newcomer_env

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
DEPLOY = {"type": "object", "required": ["service", "version"],
          "properties": {"service": {"type": "string"}, "version": {"type": "string"}}}
POLICY = {
    "default": {"auto_approve_threshold": 0.9, "review_timeout_seconds": 3600},
    "action_types": {
        "refund.issue": {"parameters": {"type": "object", "required": ["customer_id", "amount", "currency"],
                                        "properties": {"customer_id": {"type": "string"},
                                                       "amount": {"type": "number", "exclusiveMinimum": 0,
                                                                  "maximum": 10000},
                                                       "currency": {"enum": ["USD", "EUR", "GBP"]}}}},
        "quick.timeout": {"review_timeout_seconds": 3},
        "tiered.change": {"tiers": [{"reviewers": ["alice"], "timeout_seconds": 4},
                                    {"reviewers": ["bob"], "timeout_seconds": 600}]},
        "notice.send": {"veto_threshold": 0.5, "veto_window_seconds": 600},
        "deploy.production": {"auto_approve_threshold": 1, "risk": "high", "parameters": DEPLOY},   # CI examples
        "deploy.quick": {"review_timeout_seconds": 3, "parameters": DEPLOY},
        "report.check": {"tiers": [{"reviewers": ["alice", "bob"], "timeout_seconds": 600}]},   # evidence pack
        "report.expire": {"review_timeout_seconds": 3},
    },
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proposal_file(tmp_path: Path, **changes) -> tuple[Path, str]:
    doc = json.loads((ROOT / "examples" / "refund.json").read_text())
    marker = uuid.uuid4().hex[:8]
    doc["action"]["summary"] = f"Refund case {marker}"
    for key, value in changes.items():
        doc[key] = value
    path = tmp_path / f"{marker}.json"
    path.write_text(json.dumps(doc))
    return path, marker


def submit(sandbox, *args: str) -> subprocess.Popen:
    env = newcomer_env()
    return subprocess.Popen([sys.executable, "-m", "countersign", "submit", *args, "--endpoint", sandbox["aws"]],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def email_for(sandbox, marker: str, reviewer: str = "alice", timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(sandbox["web"] + "/outbox.json") as got:
            for email in json.load(got):
                if marker in email["subject"] and email["reviewer"] == reviewer:
                    return email
        time.sleep(0.1)
    raise TimeoutError(f"no email for {reviewer} about {marker}")


def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (.ci/run installs it with apt-get)")
    pw = sync_playwright().start()
    chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"])
    return pw, chromium



def approve_in_browser(sandbox, subject: str, reviewer: str, rationale: str) -> None:
    """A reviewer in headless Chromium: the outbox, the email about ``subject``, its link, approve."""
    email_for(sandbox, subject, reviewer)
    pw, chromium = browser()
    try:
        page = chromium.new_page()
        page.goto(sandbox["web"] + "/outbox")
        page.locator(f"article.email[data-reviewer={reviewer}]:has-text('{subject}')").locator("a.review-link").click()
        page.check("input[value=approve]")
        page.fill("#rationale", rationale)
        page.click("button[type=submit]")
        page.wait_for_selector("text=Decision recorded")
    finally:
        chromium.close()
        pw.stop()

class Answer:
    def __init__(self, response) -> None:
        self.status, self.body = response.status, response.read().decode()


def post_decision(link: str, form: dict[str, str]) -> Answer:
    """POST a decision form to the sandbox as a browser does (a modification is confirmed as shown)."""
    from urllib.parse import urlencode

    from tests.helpers import confirmed

    url = link.split("?")[0] + "/decision"
    return confirmed(lambda fields: Answer(urllib.request.urlopen(urllib.request.Request(
        url, data=urlencode(fields).encode()))), form)


def decide_by_http(sandbox, link: str, decision: str, rationale: str) -> int:
    import html
    import re
    from urllib.parse import urlencode

    page = urllib.request.urlopen(link).read().decode()
    token = html.unescape(re.search(r'name="t" value="([^"]+)"', page).group(1))
    body = urlencode({"t": token, "decision": decision, "rationale": rationale,
                      "reason": REASONS.get(decision, "")}).encode()
    return urllib.request.urlopen(urllib.request.Request(link.split("?")[0] + "/decision", data=body)).status


def run_cli(sandbox, *args: str) -> subprocess.CompletedProcess:
    env = newcomer_env()
    return subprocess.run([sys.executable, "-m", "countersign", *args, "--endpoint", sandbox["aws"]], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)


def running_sandbox(policy: dict | None = None):
    """`countersign local` started as a newcomer would, with ``policy`` (default ``POLICY``);
    yields its addresses until the session (or module) ends."""
    port, aws_port = free_port(), free_port()
    env = newcomer_env(PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "countersign", "local", "--port", str(port), "--aws-port",
                             str(aws_port), "-c", f"policy={json.dumps(policy or POLICY)}"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=ctrl_c_works)
    banner = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        banner.append(line)
        if "Press Ctrl-C to stop." in line or proc.poll() is not None:
            break
    assert "Press Ctrl-C to stop." in "".join(banner), "".join(banner)
    text = "".join(banner)
    assert f"http://127.0.0.1:{port}/outbox" in text and f"http://127.0.0.1:{aws_port}" in text
    assert f"countersign submit examples/refund.json --wait --endpoint http://127.0.0.1:{aws_port}" in text
    [scheduled] = [line for line in text.splitlines() if line.strip().startswith("schedules ")]
    assert sorted(scheduled.split("schedules", 1)[1].split("(")[0].strip().split(", ")) == [
        "calibrate every 60 min", "digest every 60 min", "reconciler every 1 min", "reminders every 5 min",
        "vigilance every 60 min"]
    aws = {"endpoint_url": f"http://127.0.0.1:{aws_port}", "region_name": "us-east-1",
           "aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox"}
    yield {"web": f"http://127.0.0.1:{port}", "aws": aws["endpoint_url"], "banner": text,
           "sfn": boto3.client("stepfunctions", **aws)}
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "stopped." in rest   # Ctrl-C stops it cleanly
