"""The authenticated submit path: POST /submissions, SigV4-signed, stamps the caller's IAM principal
into the execution input, where the proposal cannot write it; separation of duties follows it."""
from __future__ import annotations

import base64
import json

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from countersign.sandbox.api_gateway import request
from countersign.sandbox.lambda_runtime import handler_module
from tests.helpers import decide, proposal, review_link, unique


def iam_user(name: str) -> tuple[str, Credentials]:
    iam = boto3.client("iam")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return arn, Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def submit(stack, body: dict, credentials: Credentials | None, key: str):
    """As the CLI sends it: JSON, signed for execute-api (or not signed at all)."""
    signed = AWSRequest("POST", "https://api.example/v1/submissions", data=json.dumps(body).encode(),
                        headers={"Content-Type": "application/json", "Idempotency-Key": key})
    if credentials is not None:
        SigV4Auth(credentials, "execute-api", "us-east-1").add_auth(signed)
    return request(stack.routes, "POST", "/submissions", body=signed.body.decode(), headers=dict(signed.headers))


def test_the_signed_caller_is_stamped_and_may_not_approve_what_they_submitted(stack):
    arn_of_carol, carol = iam_user(unique("carol-ci"))
    answer = submit(stack, proposal(requested_by="pipeline:billing"), carol, unique("signed"))
    assert answer.status == 200
    arn = json.loads(answer.body)["executionArn"]
    received = next(r for r in _records(stack, arn) if r["event"] == "proposal_received")
    assert received["facts"]["submitted_by"] == arn_of_carol and received["facts"]["proposed_by"] == ["carol"]
    refused = decide(stack, review_link(stack, arn, "carol"), "approve", "Mine, and fine.")
    assert refused.status == 403 and "you proposed this action" in refused.body
    assert decide(stack, review_link(stack, arn, "alice"), "approve", "Checked.").status == 200
    verdict = json.loads(stack.wait(arn)["output"])
    assert verdict["outcome"] == "approved" and verdict["submitted_by"] == arn_of_carol


def test_someone_elses_signature_is_not_carols(stack):
    arn_of_dave, dave = iam_user(unique("dave-ci"))
    arn = json.loads(submit(stack, proposal(), dave, unique("dave")).body)["executionArn"]
    received = next(r for r in _records(stack, arn) if r["event"] == "proposal_received")
    assert received["facts"]["submitted_by"] == arn_of_dave and received["facts"]["proposed_by"] == []
    assert decide(stack, review_link(stack, arn, "carol"), "approve", "Not mine.").status == 200


def test_an_unsigned_submission_is_refused_and_nothing_starts(stack):
    before = len(stack.sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"])
    answer = submit(stack, proposal(), None, unique("unsigned"))
    assert answer.status == 403 and json.loads(answer.body) == {"message": "Missing Authentication Token"}
    assert len(stack.sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]) == before


def test_a_proposal_cannot_write_who_submitted_it(stack):
    forged = stack.start(proposal(submitted_by="arn:aws:iam::123456789012:user/bob"), unique("forged"))
    assert stack.wait(forged)["error"] == "Countersign.InvalidProposal"
    body = base64.b64encode(json.dumps(proposal()).encode()).decode()
    no_identity = stack.start({"submission": {"proposal_base64": body, "submitted_by": ""}}, unique("envelope"))
    assert stack.wait(no_identity)["error"] == "Countersign.InvalidProposal"
    [refusal] = [r for r in _records(stack, no_identity) if r["event"] == "refused_request"]
    assert refusal["errors"] == [{"path": "$.submission.submitted_by",
                                  "message": "no caller identity: the submit path must be IAM-authorised"}]


def test_authenticated_only_refuses_a_direct_start_and_audits_it(stack, monkeypatch):
    prepare = handler_module(stack.deployment.function_name("lambdas.prepare"))
    monkeypatch.setattr(prepare.DEPS, "authenticated_only", True)
    direct = stack.start(proposal(), unique("direct"))
    assert stack.wait(direct)["error"] == "Countersign.InvalidProposal"
    [refusal] = [r for r in _records(stack, direct) if r["event"] == "refused_request"]
    assert refusal["submitted_by"] is None and refusal["errors"][0]["message"] == (
        "this gate takes proposals only through its authenticated submit path (POST /submissions, IAM-signed)")
    _, erin = iam_user(unique("erin-ci"))
    signed = json.loads(submit(stack, proposal(), erin, unique("signed-only")).body)["executionArn"]
    assert stack.wait(signed, timeout=2, until=("RUNNING",))["status"] == "RUNNING"
    assert any(r["event"] == "proposal_received" for r in _records(stack, signed))
    stack.sfn.stop_execution(executionArn=signed)


def _records(stack, arn):
    import time

    for _ in range(100):                 # Prepare writes its record before the workflow moves on
        found = stack.execution_records(arn)
        if found:
            return found
        time.sleep(0.02)
    return []
