"""Canaries end to end under moto, on the real ASL and real API Gateway events: a known-bad copy of a
real proposal goes to the same reviewers with the same email and page, is scored and revealed
when decided, is never executed or called back, and leaves the real review untouched."""
from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone
from urllib.parse import unquote

import boto3

from countersign.adapters.aws import DynamoReviewStore
from countersign.cli import client
from countersign.evidence import history, trail
from countersign.evidence.verify import check
from countersign.evidence.audit_queries import run_local
from countersign.evidence.verify import Stored
from countersign.evidence.compliance.figures import summarise
from tests.faults.conftest import dispatcher_down, invoke, review_item
from tests.fixtures import ledger
from tests.helpers import REFUND, decide, decision_url, proposal, review_id_of, unique

CANARY = "refund.checked"
BREAKS = "a refund over <b>$1,000</b> needs a manager's sign-off & a ticket"


def start(stack, prefix: str) -> str:
    return stack.start(proposal(action={**REFUND["action"], "type": CANARY}), unique(prefix))


def canary_records(stack, arn: str) -> list[dict]:
    return [r for r in stack.audit_records("canaries/") if (r.get("canary") or {}).get("source_execution") == arn]


def requested(stack, arn: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in canary_records(stack, arn) if r["event"] == "review_requested"]
        if found:
            return found[0]
        time.sleep(0.05)
    raise TimeoutError("no canary was requested")


def decided(stack, arn: str) -> dict:
    [record] = [r for r in canary_records(stack, arn) if r["event"] == "decision_recorded"]
    return record


def links(stack, arn: str, reviewer: str = "alice") -> tuple[str, str, str, str]:
    """(real review id, canary review id, the reviewer's real link, their canary link)."""
    real_id, canary_id = review_id_of(stack, arn), requested(stack, arn)["review_id"]
    real, canary = (stack.wait_for_email(reviewer, rid) for rid in (real_id, canary_id))
    return real_id, canary_id, real.links[0], canary.links[0]


def waiting(stack, arn: str) -> bool:
    return boto3.client("stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING"


def settled_in_outbox(stack, review_id: str) -> bool:
    item = review_item(stack, review_id)
    return item["status"]["S"] == "DISPATCHED" and "outbox" not in item and \
        review_id not in DynamoReviewStore(boto3.client("dynamodb"), stack.table).undispatched()


def test_a_canary_goes_to_the_same_reviewers_with_the_same_email_and_page(stack):
    arn = start(stack, "canary-looks")
    request = requested(stack, arn)
    assert request["canary"] == {"breaks": BREAKS, "source_execution": arn}
    assert request["stream"] == f"canaries/{request['execution']['started_at'][:10].replace('-', '/')}/{request['review_id']}"
    draw = request["canary_draw"]
    assert draw["definition"] == 0 and draw["rate"] == 1.0 and 0 <= draw["draw"] < 1
    assert draw["message"] == f"countersign-canary|v1|{arn}|{request['execution']['started_at']}|{request['policy']['version']}"
    real_id, canary_id, real_link, canary_link = links(stack, arn)
    assert request["reviewers"] == ["alice", "bob", "carol"] and request["reason"] == next(
        r for r in stack.execution_records(arn) if r["event"] == "review_requested")["reason"]
    for reviewer in ("alice", "bob", "carol"):
        real, canary = (stack.wait_for_email(reviewer, rid) for rid in (real_id, canary_id))
        assert canary.subject == real.subject == "[Countersign] Review needed: Refund $420 to customer 1182"
        assert canary.body.replace(canary.links[0], "LINK") == real.body.replace(real.links[0], "LINK")
    real_page, canary_page = stack.http("GET", real_link), stack.http("GET", canary_link)
    assert real_page.status == canary_page.status == 200 and "canary" not in canary_page.body.lower()
    assert "&#34;amount&#34;: 4200," in canary_page.body and "&#34;amount&#34;: 420," in real_page.body

    def same(page: str, review_id: str) -> str:     # only the id, the link token, the stamp and the values differ
        return re.sub(r'(name="(t|rendered)" value=")[^"]*"', r'\1"', page.replace(review_id, "ID"))
    assert same(canary_page.body.replace("4200", "420"), canary_id) == same(real_page.body, real_id)
    assert waiting(stack, arn) and stack.states_entered(arn)[-1] == "RequestReview"


def test_approving_a_canary_is_scored_missed_and_revealed_and_the_real_review_is_untouched(stack):
    arn = start(stack, "canary-missed")
    real_id, canary_id, real_link, canary_link = links(stack, arn)
    answer = decide(stack, canary_link, "approve")
    assert answer.status == 200
    assert "This was a canary: you missed it" in answer.body and "You approved it, so you missed it." in answer.body
    assert "a refund over &lt;b&gt;$1,000&lt;/b&gt; needs a manager&#39;s sign-off &amp; a ticket." in answer.body
    assert "<b>$1,000" not in answer.body
    record = decided(stack, arn)
    assert (record["decision"], record["caught"], record["reviewer"]) == ("approved", False, "alice")
    assert record["canary"] == {"breaks": BREAKS, "source_execution": arn} and record["review_id"] == canary_id
    assert record["final_action"]["parameters"]["amount"] == 4200
    assert settled_in_outbox(stack, canary_id) and waiting(stack, arn) and ledger.invocations(arn) == []

    assert decide(stack, real_link, "approve").status == 200
    done = stack.wait(arn)
    verdict = json.loads(done["output"])
    assert (verdict["outcome"], verdict["review_id"]) == ("approved", real_id)
    assert verdict["final_action"]["parameters"]["amount"] == 420
    assert ledger.invocations(arn) == ["execute"]
    assert [e["action"]["parameters"]["amount"] for e in ledger.INVOCATIONS if e.get("execution") == arn] == [420]
    assert all(r["review_id"] != canary_id for r in stack.execution_records(arn))   # the real trail never names it

    records = stack.execution_records(arn) + canary_records(stack, arn)
    rows = {r.review_id: r for r in history.decisions(records)}
    assert (rows[canary_id].canary, rows[canary_id].caught, rows[canary_id].outcome) == (True, False, "approved")
    assert (rows[real_id].canary, rows[real_id].caught) == (False, None)
    assert [d.confidence for d in history.calibration_rows(rows.values())] == [0.72]      # the canary is left out
    name = arn.rsplit(":", 1)[1]
    objects = [Stored(k, stack.audit.get(k), None, None) for k in stack.audit.list_keys("executions/") +
               stack.audit.list_keys("canaries/") if f"/{name}/" in k or f"/{canary_id}/" in k]
    assert history.from_query(run_local(objects, ["decisions"])["decisions"]) == list(rows.values())   # SQL too
    figures = summarise(records)
    assert figures["overrides"] == [{"action_type": CANARY, "decisions": 1, "modified": 0, "rejected": 0, "rate": 0.0}]
    assert figures["time_to_decision"]["reviews"] == 1
    assert (figures["events"]["review_requested"], figures["events"]["decision_recorded"]) == (1, 1)


def test_rejecting_a_canary_is_scored_caught_and_does_not_reject_the_real_proposal(stack):
    arn = start(stack, "canary-caught")
    real_id, canary_id, real_link, canary_link = links(stack, arn, reviewer="bob")
    answer = decide(stack, canary_link, "reject", rationale="4200 is ten times what was charged")
    assert answer.status == 200 and "This was a canary: you caught it" in answer.body
    assert "You rejected it, so you caught it." in answer.body
    record = decided(stack, arn)
    assert (record["decision"], record["caught"], record["reviewer"]) == ("rejected", True, "bob")
    assert settled_in_outbox(stack, canary_id) and waiting(stack, arn)
    token = canary_link.split("t=", 1)[1]                       # one decision per review, a canary too
    again = stack.http("POST", decision_url(canary_link), {"t": unquote(token), "decision": "approve", "rationale": ""})
    assert again.status == 409 and "another decision on this review was recorded first" in again.body
    assert decide(stack, real_link, "approve").status == 200
    assert json.loads(stack.wait(arn)["output"])["outcome"] == "approved"
    target = client.Target(stack.deployment.stack_name, stack.deployment.outputs, boto3.session.Session())
    objects = trail.read(target)                             # what audit verify and audit export read
    assert [o.key for o in objects if o.key.startswith(record["stream"] + "/")] == [
        f"{record['stream']}/000001.json", f"{record['stream']}/000002.json"]
    report = check(objects, trail.public_key(target), trail.lock_settings(target), now=datetime.now(timezone.utc))
    # the canary stream's chain and hashes check out (a digest another test dated ahead claims an
    # interval this test writes into, so coverage by digests is not this test's to judge)
    assert not [p.line() for p in report.problems
                if p.line().startswith(record["stream"]) and "not covered by a digest" not in p.line()]


def test_a_canary_decision_the_dispatcher_missed_is_scored_by_the_reconciler_with_no_callback(stack):
    arn = start(stack, "canary-redrive")
    real_id, canary_id, real_link, canary_link = links(stack, arn)
    with dispatcher_down(stack):
        assert decide(stack, canary_link, "modify", rationale="the amount is wrong",
                      parameters=json.dumps({"customer_id": "1182", "amount": 420, "currency": "USD"})).status == 200
    assert review_item(stack, canary_id)["outbox"]["S"] == "due"
    assert [r["event"] for r in canary_records(stack, arn)] == ["review_requested"]
    sweep = invoke(stack, "lambdas.reconciler", {"source": "aws.events", "detail-type": "Scheduled Event"})
    assert canary_id in sweep["reviews"] and sweep["scored"] >= 1
    record = decided(stack, arn)
    assert (record["decision"], record["caught"]) == ("modified", True)
    assert settled_in_outbox(stack, canary_id) and waiting(stack, arn) and ledger.invocations(arn) == []
    again = invoke(stack, "lambdas.reconciler", {"source": "aws.events", "detail-type": "Scheduled Event"})
    assert canary_id not in again["reviews"]                      # nothing left behind to redrive
    assert decide(stack, real_link, "reject", rationale="not a duplicate").status == 200
    assert json.loads(stack.wait(arn)["output"])["outcome"] == "rejected" and ledger.invocations(arn) == []
