"""An execution is bound to its proposal's content: Step Functions refuses a reused name with other
input, and the trail and the verdict carry the content hash a caller can check."""
from __future__ import annotations

import json
import time

import pytest

from countersign.rules.proposal import content_hash
from tests.helpers import proposal, review_id_of, unique


def test_step_functions_refuses_a_reused_key_with_other_content_and_the_verdict_names_its_content(stack):
    name = unique("bound")
    first = proposal(confidence=0.97)
    arn = stack.start(first, name)
    verdict = json.loads(stack.wait(arn)["output"])
    assert verdict["outcome"] == "auto_approved" and verdict["proposal_sha256"] == content_hash(first)
    received = next(r for r in stack.execution_records(arn) if r["event"] == "proposal_received")
    assert received["proposal_sha256"] == content_hash(first)
    critical = proposal(confidence=0.99, risk="critical")
    with pytest.raises(stack.sfn.exceptions.ExecutionAlreadyExists):     # a direct StartExecution too
        stack.start(critical, name)
    assert content_hash(critical) != content_hash(first)
    assert content_hash({**first, "idempotency_key": name}) == content_hash(first)   # the key is not content


def test_the_spot_check_draw_is_a_kms_mac_an_auditor_can_verify_and_a_proposer_cannot_predict(stack):
    import base64
    import hashlib

    import boto3

    from countersign.rules.routing import draw_of

    sample = {"type": "sample.half", "summary": "Reply to ticket", "parameters": {}}
    version = json.loads(boto3.client("ssm").get_parameter(Name=stack.deployment.outputs["PolicyParameterName"])
                         ["Parameter"]["Value"])["version"]             # public: every verdict carries it

    def public(name: str) -> float:   # the draw as a proposer could compute it from public inputs
        arn = stack.state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + name
        return int(hashlib.sha256(f"spot-check|{arn}|{version}".encode()).hexdigest()[:13], 16) / 16 ** 13

    names = [n for n in (unique("dodge") for _ in range(200)) if public(n) >= 0.5][:16]   # "never sampled"
    arns = [stack.start(proposal(confidence=0.99, action=sample), name) for name in names]
    routes = []
    for arn in arns:                       # 16 executions at once: generous waits for a loaded 2-core machine
        deadline = time.monotonic() + 30
        while len(entered := stack.states_entered(arn)) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        routes.append(entered[2])
        if entered[2] == "RequestReview":
            review_id_of(stack, arn, timeout=30)   # its request step has run: nothing is left in flight
            stack.sfn.stop_execution(executionArn=arn)
    assert "RequestReview" in routes and "Conclude" in routes     # sampled anyway: public inputs predict nothing
    received = next(r for r in stack.execution_records(arns[0]) if r["event"] == "proposal_received")
    drawn = received["spot_check"]
    key = boto3.client("lambda").get_function_configuration(
        FunctionName=stack.deployment.function_name("lambdas.prepare"))["Environment"]["Variables"]["LINK_KEY_ID"]
    assert boto3.client("kms").verify_mac(KeyId=key, Message=drawn["message"].encode(), MacAlgorithm="HMAC_SHA_256",
                                          Mac=base64.b64decode(drawn["mac"]))["MacValid"]
    assert round(draw_of(base64.b64decode(drawn["mac"])), 6) == received["facts"]["spot_check_draw"]
    assert drawn["message"].startswith(f"countersign-spot-check|v1|{arns[0]}|")


def test_prepare_enforces_the_same_limits_for_callers_that_start_executions_directly(stack):
    nested: dict = {}
    for _ in range(40):
        nested = {"x": nested}
    arn = stack.start(proposal(action={"type": "quick.timeout", "summary": "deep", "parameters": nested}),
                      unique("too-deep"))
    done = stack.wait(arn)
    assert done["status"] == "FAILED" and done["error"] == "Countersign.InvalidProposal"
    assert "nested deeper than 32 levels" in done["cause"]
