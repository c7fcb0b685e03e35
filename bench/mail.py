"""What N pending reviews cost in email, in each notify mode. Used by ``bench/sandbox.py --mail N``.

For ``each`` and then ``digest`` (context ``notify``, ``digest_minutes`` 60), a fresh ``countersign
local`` gets N refunds at once (a small thread pool); ``--mail-urgent`` of them (default 10%) declare
risk high, which is urgent, the rest medium with the 48-hour deadline. When every review is stored
(alice's open reviews in the by-reviewer index number N) and the urgent emails are out, the digest
mode's scheduled function is invoked once, as its schedule would. Then the outbox is counted: every
email the stack sent. SNS email has an account-level limit of about 10 messages per second, so the
report also gives the seconds of sending each mode needs at that rate.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import boto3

SNS_EMAILS_PER_SECOND = 10
REVIEWERS = ("alice", "bob")     # the default cdk.json context


def _client(sandbox, service: str):
    return boto3.client(service, endpoint_url=sandbox.aws, region_name="us-east-1",
                        aws_access_key_id="sandbox", aws_secret_access_key="sandbox")


def _stored(sandbox) -> int:
    """How many reviews are open for alice (the by-reviewer index, as the inbox counts them)."""
    from countersign.adapters.aws import DynamoReviewStore

    outputs = {o["OutputKey"]: o["OutputValue"] for o in
               _client(sandbox, "cloudformation").describe_stacks(StackName="Countersign-sandbox")["Stacks"][0]["Outputs"]}
    return DynamoReviewStore(_client(sandbox, "dynamodb"), outputs["ReviewsTableName"]).count_open("alice", int(time.time()))


def _sweep(sandbox) -> dict:
    fns = _client(sandbox, "lambda").list_functions()["Functions"]
    [name] = [f["FunctionName"] for f in fns if f["Handler"] == "lambdas.mail_digest.handler"]
    got = _client(sandbox, "lambda").invoke(FunctionName=name, Payload=json.dumps({"source": "aws.events"}))
    return json.loads(got["Payload"].read())


def one_mode(sandbox_class, driver_class, mode: str, count: int, urgent_share: float, workers: int,
             budget: float) -> dict:
    sandbox = sandbox_class(overrides=[f"notify={mode}", "digest_minutes=60"])
    sandbox.start()
    began = time.monotonic()
    try:
        driver = driver_class(sandbox, workers)
        urgent = round(count * urgent_share)
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda i: driver.start(f"mail-{mode}-{i:05d}", risk="high" if i < urgent else "medium"),
                          range(count)))
        expected_now = len(REVIEWERS) * (count if mode == "each" else urgent)
        while time.monotonic() - began < budget:
            if _stored(sandbox) >= count and len(driver.outbox()) >= expected_now:
                break
            time.sleep(1)
        stored = _stored(sandbox)
        sweep = _sweep(sandbox) if mode == "digest" else {}
        emails = driver.outbox()
        return {"mode": mode, "pending": stored, "urgent": urgent, "emails": len(emails),
                "digests": sum(1 for e in emails if "new review" in e["subject"]), "sweep": sweep,
                "seconds": time.monotonic() - began}
    finally:
        sandbox.stop()
        sandbox.kill()


def report(results: list[dict]) -> None:
    print(f"Email cost of {results[0]['pending']:,} pending reviews ({len(REVIEWERS)} reviewers, "
          f"{results[0]['urgent']} urgent)")
    header = f"{'notify':<10}{'emails':>10}{'of which digests':>18}{'s at 10/s (SNS)':>18}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r['mode']:<10}{r['emails']:>10,}{r['digests']:>18}{r['emails'] / SNS_EMAILS_PER_SECOND:>18.1f}")
    print()
