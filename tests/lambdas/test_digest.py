"""Digest mode on the deployed stack: the RequestReview and MailDigest handlers (in-process, as
deployed) switched to a digest interval. A review that is not urgent waits for the reviewer's
digest; an urgent one (risk high or above, or a deadline inside the interval) is emailed at once;
a digest goes out at most once per interval per reviewer and lists only what is new."""
from __future__ import annotations

import html
import json
import re
import time

import boto3
import pytest

from countersign.sandbox import lambda_runtime
from tests.helpers import decide, proposal, review_id_of, unique
from tests.lambdas.test_inbox import BASE, inbox_of, pages

INTERVAL = 600


def handler_deps(stack, handler: str):
    return lambda_runtime.handler_module(stack.deployment.function_name(handler)).DEPS


@pytest.fixture
def digest(stack, monkeypatch):
    """Both handlers in digest mode; ``digest.at(n)`` moves the sweep's clock n intervals ahead.
    The sweep's clock stands still in the middle of the current interval, so two runs in one test
    never straddle an interval's boundary on the wall clock."""
    request, sweep = handler_deps(stack, "lambdas.request_review"), handler_deps(stack, "lambdas.mail_digest")
    monkeypatch.setattr(request, "digest_seconds", INTERVAL)
    monkeypatch.setattr(sweep, "digest_seconds", INTERVAL)
    middle, offset = (time.time() // INTERVAL + 0.5) * INTERVAL, [0]
    monkeypatch.setattr(sweep, "clock", lambda: middle + offset[0])

    class Sweep:
        @staticmethod
        def at(intervals: int) -> None:
            offset[0] = intervals * INTERVAL

        @staticmethod
        def run() -> list:
            """Run the scheduled function once; return the emails alice got from it."""
            before = len(mail(stack, "alice"))
            got = boto3.client("lambda").invoke(FunctionName=stack.deployment.function_name("lambdas.mail_digest"),
                                                Payload=json.dumps({"source": "aws.events"}))
            assert "FunctionError" not in got, got["Payload"].read()
            return mail(stack, "alice")[before:]
    yield Sweep


def mail(stack, reviewer: str) -> list:
    return [e for e in stack.emails() if e.reviewer == reviewer]


def requested(stack, kind: str, **changes) -> tuple[str, str, dict]:
    """Start a proposal; return its execution, review id and review_requested record."""
    arn = stack.start(proposal(action={"type": kind, "summary": f"Digest case {unique('d')}",
                                       "parameters": {"customer_id": "1", "amount": 5, "currency": "USD"}
                                       if kind == "refund.issue" else {}}, **changes), unique("digest"))
    review_id = review_id_of(stack, arn)
    [record] = [r for r in stack.execution_records(arn) if r["event"] == "review_requested"]
    return arn, review_id, record


def emailed(stack, reviewer: str, review_id: str) -> bool:
    return any(review_id in e.body for e in mail(stack, reviewer))


def test_a_review_that_is_not_urgent_waits_for_one_digest_and_urgent_ones_go_out_at_once(stack, digest):
    calm = [requested(stack, "refund.issue") for _ in range(2)]
    for _, review_id, record in calm:
        assert record["notify"] == "digest" and not emailed(stack, "alice", review_id)
    _, risky, record = requested(stack, "payout.risky")                    # risk high
    assert record["notify"] == "email" and stack.wait_for_email("alice", risky)
    _, soon, record = requested(stack, "quick.timeout")                    # deadline inside the interval
    assert record["notify"] == "email" and stack.wait_for_email("alice", soon)

    [email] = digest.run()                                                 # one email for all that waited
    count = int(re.match(r"\[Countersign\] (\d+) new reviews? waiting for you$", email.subject).group(1))
    assert count == len(email.links) >= 2
    assert f"{count} proposed AI actions are waiting for you" in email.body
    for arn, review_id, _ in calm:
        assert review_id in email.body and "refund.issue · risk medium · decide by" in email.body
        [listed] = [r for r in stack.execution_records(arn) if r["event"] == "digest_sent" and r["reviewer"] == "alice"]
        assert listed["actor"] == "system:digest" and listed["listed"] == count
    assert risky not in email.body and soon not in email.body
    assert re.search(r"Your inbox, everything pending for you \(valid until .+\):\nhttp://\S+/inbox\?t=i1\.alice\.",
                     email.body)
    opened = stack.http("GET", next(link for link in email.links if calm[0][1] in link))
    assert opened.status == 200 and "you are <strong>alice</strong>" in opened.body
    assert emailed(stack, "bob", calm[0][1])                              # every reviewer gets their own


def test_at_most_one_digest_per_interval_listing_only_what_is_new_and_still_pending(stack, digest):
    digest.at(1)
    _, first, _ = requested(stack, "refund.issue")
    [email] = digest.run()
    assert first in email.body
    _, second, _ = requested(stack, "refund.issue")
    arn, decided, _ = requested(stack, "refund.issue")
    assert digest.run() == []                                              # this interval's digest went out
    summary = json.loads(stack.sfn.describe_execution(executionArn=arn)["input"])["action"]["summary"]
    [page] = [p for p in pages(stack, inbox_of(stack, "alice")) if summary in p]   # held, yet in the inbox
    item = next(li for li in re.findall(r"<li>(.*?)</li>", page, re.S) if summary in li)
    link = BASE + "/" + html.unescape(re.search(r'<a href="\./([^"]+)">', item).group(1))
    assert decide(stack, link, "approve", "fine").status == 200            # decided from the inbox
    digest.at(2)
    [email] = digest.run()
    assert second in email.body and first not in email.body and decided not in email.body
    assert digest.run() == []
