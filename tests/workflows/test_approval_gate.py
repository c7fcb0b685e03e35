"""The approval gate's routes, run from the real ASL under moto's interpreter, with the deployed
template's Lambdas invoked in-process. Each test reads what a user would see: the email, the
review page, the execution's verdict, the audit trail."""
from __future__ import annotations

import json

import pytest

from countersign.evidence.audit import GENESIS, record_hash
from tests.helpers import decide, proposal, review_link, unique


def verdict(stack, arn: str) -> dict:
    done = stack.wait(arn)
    assert done["status"] == "SUCCEEDED", done
    return json.loads(done["output"])


def events(stack, arn: str) -> list[str]:
    return [r["event"] for r in stack.execution_records(arn)]


def test_high_confidence_is_auto_approved_and_audited(stack):
    arn = stack.start(proposal(confidence=0.97), unique("auto"))
    result = verdict(stack, arn)
    assert result["outcome"] == "auto_approved"
    assert result["final_action"] == proposal()["action"]
    assert result["route"] == "auto" and result["reviewers"] == []
    assert stack.states_entered(arn) == ["Prepare", "Route", "Conclude"]
    assert events(stack, arn) == ["proposal_received", "auto_approved"]
    assert not [e for e in stack.emails() if arn.rsplit(":", 1)[1] in e.body]


def test_confidence_equal_to_threshold_is_auto_approved(stack):
    arn = stack.start(proposal(confidence=0.9), unique("edge"))
    assert verdict(stack, arn)["outcome"] == "auto_approved"


def test_low_confidence_blocks_until_a_reviewer_approves_from_the_email(stack):
    arn = stack.start(proposal(), unique("approve"))
    link = review_link(stack, arn, "alice")
    assert stack.wait(arn, timeout=0.3)["status"] == "RUNNING"   # blocked on the human
    email = stack.wait_for_email("alice", link.split("/reviews/")[1].split("?")[0])
    assert email.to == "alice@example.com"
    assert "Refund $420 to customer 1182" in email.body and "Decide by:" in email.body
    assert "0.72" in email.body and "below the auto-approve threshold 0.9 " in email.body

    page = stack.http("GET", link)
    assert page.status == 200
    for shown in ("refund.issue", "Duplicate charge on 2026-11-20", "0.72", "customer_id", "alice"):
        assert shown in page.body

    answer = decide(stack, link, "approve", "Matches the duplicate charge.")
    assert answer.status == 200 and "Decision recorded" in answer.body
    result = verdict(stack, arn)
    assert result["outcome"] == "approved"
    assert result["final_action"] == proposal()["action"]
    assert result["reviewers"][0]["id"] == "alice"
    assert result["rationale"] == "Matches the duplicate charge."
    assert result["route"] == "human_review" and result["policy_version"]
    assert stack.states_entered(arn) == ["Prepare", "Route", "RequestReview", "Decided", "Act", "Conclude"]
    assert events(stack, arn) == ["proposal_received", "review_requested", "decision_recorded", "verdict_issued"]


def test_each_reviewer_gets_their_own_link(stack):
    arn = stack.start(proposal(), unique("links"))
    alice, bob = review_link(stack, arn, "alice"), review_link(stack, arn, "bob")
    assert alice != bob
    assert "you are <strong>bob</strong>" in stack.http("GET", bob).body


def test_modify_returns_the_edited_action(stack):
    arn = stack.start(proposal(), unique("modify"))
    link = review_link(stack, arn)
    edited = json.dumps({"customer_id": "1182", "amount": 200, "currency": "USD"})
    assert decide(stack, link, "modify", "Only the second charge was a duplicate.", edited).status == 200
    result = verdict(stack, arn)
    assert result["outcome"] == "modified" and result["reason"] == "wrong_parameters"
    assert result["final_action"]["parameters"]["amount"] == 200
    decided = [r for r in stack.execution_records(arn) if r["event"] == "decision_recorded"][0]
    assert decided["diff"] == [{"path": "$.parameters.amount", "before": 420, "after": 200}]
    assert decided["rationale"] == "Only the second charge was a duplicate."
    assert decided["reviewer"] == "alice"


def test_reject_returns_the_rejected_outcome(stack):
    arn = stack.start(proposal(), unique("reject"))
    link = review_link(stack, arn, "bob")
    assert decide(stack, link, "reject", "Customer already refunded by phone.").status == 200
    result = verdict(stack, arn)
    assert result["outcome"] == "rejected" and result["final_action"] is None
    assert result["reason"] == "wrong_action"                 # the reason category the reviewer chose
    assert result["reviewers"][0] == {"id": "bob", "decision": "rejected",
                                      "rationale": "Customer already refunded by phone.",
                                      "decided_at": result["reviewers"][0]["decided_at"]}


def test_no_decision_before_the_timeout_expires_and_fails_closed(stack):
    quick = proposal(action={"type": "quick.timeout", "summary": "Anything", "parameters": {}})
    arn = stack.start(quick, unique("expire"))
    link = review_link(stack, arn)
    result = verdict(stack, arn)
    assert result["outcome"] == "expired" and result["final_action"] is None
    assert stack.states_entered(arn) == ["Prepare", "Route", "RequestReview", "Escalate", "NextTier", "Act",
                                         "Conclude"]
    assert events(stack, arn) == ["proposal_received", "review_requested", "escalated", "expired"]
    late = decide_late(stack, link)
    assert late.status == 403 and "expired" in late.body


def decide_late(stack, link):
    from tests.helpers import decision_url
    from urllib.parse import parse_qs, urlsplit

    token = parse_qs(urlsplit(link).query)["t"][0]
    return stack.http("POST", decision_url(link), {"t": token, "decision": "approve", "rationale": ""})


@pytest.mark.parametrize("bad, reason", [
    ({"confidence": None}, "confidence"),
    ({"confidence": 1.5}, "confidence"),
    ({"action": {"type": "wire.transfer", "summary": "x", "parameters": {}}}, "unknown action type"),
    ({"action": {"type": "refund.issue", "summary": "x", "parameters": {"amount": -1}}}, "parameters"),
    ({"surprise": True}, "surprise"),
])
def test_invalid_proposals_are_refused_audited_and_go_no_further(stack, bad, reason):
    doc = proposal(**{k: v for k, v in bad.items() if v is not None})
    for key in [k for k, v in bad.items() if v is None]:
        del doc[key]
    arn = stack.start(doc, unique("bad"))
    done = stack.wait(arn)
    assert done["status"] == "FAILED" and done["error"] == "Countersign.InvalidProposal"
    assert reason in done["cause"]
    assert stack.states_entered(arn) == ["Prepare", "Route", "Refused"]
    [record] = stack.execution_records(arn)
    assert record["event"] == "refused_request" and reason in json.dumps(record["errors"])


def test_audit_records_form_a_hash_chain_in_a_locked_bucket(stack):
    arn = stack.start(proposal(), unique("chain"))
    decide(stack, review_link(stack, arn), "approve")
    verdict(stack, arn)
    records = stack.execution_records(arn)
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    assert records[0]["prev_hash"] == GENESIS
    for prev, record in zip(records, records[1:]):
        assert record["prev_hash"] == prev["hash"]
    for record in records:
        assert record["hash"] == record_hash(record)
        assert record["policy"]["version"] and record["action_type"] == "refund.issue"
        assert record["confidence"] == 0.72

    s3 = stack.s3
    key = next(o["Key"] for o in s3.list_objects_v2(Bucket=stack.audit_bucket, Prefix="executions/")["Contents"]
               if arn.rsplit(":", 1)[1] in o["Key"])
    head = s3.head_object(Bucket=stack.audit_bucket, Key=key)
    assert head["ObjectLockMode"] == "GOVERNANCE" and head["ObjectLockRetainUntilDate"]
    with pytest.raises(s3.exceptions.ClientError) as refused:
        s3.delete_object(Bucket=stack.audit_bucket, Key=key, VersionId=head["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
