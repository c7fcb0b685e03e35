"""A long wait from a pipeline: bounded by --timeout whatever the endpoint does, patient through
dropped connections, throttling and a restarted endpoint, honest about expired credentials, and
always able to come back with `countersign wait` after an interruption."""
from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time

import pytest

from tests.e2e.faulty_endpoint import FaultyEndpoint, silent_endpoint
from tests.e2e.pipeline import ROOT, decide_by_http, email_for, proposal_file, run_cli
from tests.helpers import ctrl_c_works, newcomer_env


@pytest.fixture
def faulty(sandbox):
    endpoint = FaultyEndpoint(sandbox["aws"])
    yield endpoint
    endpoint.stop()


def cli(endpoint: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "countersign", *args, "--endpoint", endpoint], cwd=ROOT,
                            env=newcomer_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ctrl_c_works)


def reattach_command(stderr: str) -> list[str]:
    command = stderr.rsplit("Re-attach with: ", 1)[1].splitlines()[0]
    words = shlex.split(command)
    assert words[:2] == ["countersign", "wait"]
    return [sys.executable, "-m", "countersign", *words[1:]]


def test_a_silent_endpoint_cannot_hold_the_command_past_its_timeout():
    listener, url = silent_endpoint()
    try:
        started = time.monotonic()
        pipeline = cli(url, "submit", "examples/refund.json", "--wait", "--timeout", "3", "--json")
        out, err = pipeline.communicate(timeout=60)
        took = time.monotonic() - started
    finally:
        listener.close()
    assert pipeline.returncode == 1 and took < 30          # not botocore's 60 s read timeout, three times over
    message = f"no answer from {url} within 3s (--timeout); nothing was submitted"
    assert json.loads(out) == {"outcome": "error", "executionArn": None, "error": message}
    assert err == f"error: {message}\n"                     # one line, no traceback


def test_an_endpoint_that_hangs_mid_wait_gives_pending_at_the_timeout_with_the_way_back(sandbox, faulty, tmp_path):
    path, marker = proposal_file(tmp_path)
    pipeline = cli(faulty.url, "submit", str(path), "--wait", "--timeout", "6", "--json")
    email_for(sandbox, marker)
    faulty.set("hang")
    out, err = pipeline.communicate(timeout=60)
    assert pipeline.returncode == 5
    pending = json.loads(out)
    key = pending["key"]
    assert pending == {"outcome": "pending", "executionArn": pending["executionArn"], "key": key, "status": "RUNNING",
                       "timeout": True} and pending["executionArn"].endswith(":" + key)
    assert err.splitlines()[-1] == (f"still waiting after 6s; the review stays open. Re-attach with: countersign wait "
                                    f"{key} --proposal {path} --endpoint {faulty.url} --json")
    assert "Traceback" not in err


def test_drops_throttling_and_a_restarted_endpoint_do_not_end_the_wait(sandbox, faulty, tmp_path):
    path, marker = proposal_file(tmp_path)
    pipeline = cli(faulty.url, "submit", str(path), "--wait", "--json")
    link = email_for(sandbox, marker)["links"][0]
    faulty.set("drop", times=3)
    time.sleep(1)
    faulty.set("throttle", times=3)
    time.sleep(1)
    faulty.restart(down_for=2)                              # connections refused for 2 s, then back on the same port
    assert decide_by_http(sandbox, link, "approve", "Checked the ledger.") == 200
    out, err = pipeline.communicate(timeout=60)
    assert pipeline.returncode == 0, err
    assert json.loads(out)["outcome"] == "approved" and "Traceback" not in err


def test_interrupted_waits_say_how_to_come_back_and_countersign_wait_does(sandbox, tmp_path):
    path, marker = proposal_file(tmp_path)
    first = cli(sandbox["aws"], "submit", str(path), "--wait")
    email = email_for(sandbox, marker)
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=30)
    assert first.returncode == 130
    assert err.splitlines()[-1].startswith("interrupted: the review stays open. Re-attach with: countersign wait p-")
    command = reattach_command(err)
    assert command[-4:] == ["--proposal", str(path), "--endpoint", sandbox["aws"]]

    second = subprocess.Popen(command, cwd=ROOT, env=newcomer_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    time.sleep(2)
    second.send_signal(signal.SIGTERM)                     # a CI runner cancelling the job
    _, err = second.communicate(timeout=30)
    assert second.returncode == 143 and reattach_command(err) == command
    assert "waiting for a human decision: notified alice, bob; decide by" in err

    third = subprocess.Popen(command, cwd=ROOT, env=newcomer_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    assert decide_by_http(sandbox, email["links"][0], "reject", "Refunded by phone.") == 200
    out, err = third.communicate(timeout=60)
    assert third.returncode == 2 and out.startswith("rejected via human_review")


def test_expired_credentials_are_said_plainly_with_the_way_back(sandbox, faulty, tmp_path):
    path, marker = proposal_file(tmp_path)
    once = cli(faulty.url, "submit", str(path), "--wait", "--json")
    link = email_for(sandbox, marker)["links"][0]
    faulty.set("expired", times=1)                         # refreshed on the next lookup: the wait goes on
    time.sleep(1.5)
    assert decide_by_http(sandbox, link, "approve", "Fine.") == 200
    out, err = once.communicate(timeout=60)
    assert once.returncode == 0 and json.loads(out)["outcome"] == "approved", err

    path, marker = proposal_file(tmp_path)
    pipeline = cli(faulty.url, "submit", str(path), "--wait", "--json")
    email_for(sandbox, marker)
    faulty.set("expired")                                  # and stays expired
    out, err = pipeline.communicate(timeout=60)
    assert pipeline.returncode == 1
    failed = json.loads(out)
    assert failed["outcome"] == "error" and failed["key"].startswith("p-")
    assert "Traceback" not in err and err.splitlines()[-1] == (
        "error: the AWS credentials expired (ExpiredTokenException) and could not be refreshed: refresh them "
        "(for example, re-run the step that assumes the role); the review stays open. Re-attach with: "
        f"countersign wait {failed['key']} --proposal {path} --endpoint {faulty.url} --json")
    assert failed["error"] == err.splitlines()[-1][len("error: "):]


def test_the_wrong_port_is_not_an_aws_endpoint_and_wait_checks_what_it_attaches_to(sandbox, tmp_path):
    wrong = run_cli({"aws": sandbox["web"]}, "status", "anything")
    assert wrong.returncode == 1 and wrong.stderr == (
        f"error: {sandbox['web']} is not an AWS endpoint (it answered something that is not an AWS response): pass "
        "the sandbox's AWS endpoint, which `countersign local` prints (default http://127.0.0.1:5000)\n")
    missing = run_cli(sandbox, "wait", "no-such-key")
    assert missing.returncode == 1 and "no execution 'no-such-key'" in missing.stderr
    path, marker = proposal_file(tmp_path)
    other, _ = proposal_file(tmp_path)
    started = json.loads(run_cli(sandbox, "submit", str(path), "--idempotency-key", f"k-{marker}", "--json").stdout)
    assert started["key"] == f"k-{marker}"
    refused = run_cli(sandbox, "wait", f"k-{marker}", "--proposal", str(other), "--json")
    assert refused.returncode == 4 and json.loads(refused.stdout)["errors"][0]["message"] == (
        f"{started['executionArn']} was started for a different proposal; its verdict does not apply to this one")
