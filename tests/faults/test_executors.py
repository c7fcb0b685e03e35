"""The action runs at most once per phase and always ends in one verdict: executors are workflow
tasks with their own timeout, retries and catch, called with an idempotency key, and the
closing step is idempotent and retried."""
from __future__ import annotations

from botocore.exceptions import ClientError

from tests.faults.conftest import deps, events, executor_runs, inject, verdict
from tests.helpers import decide, proposal, review_link, unique


def action(kind: str, **parameters) -> dict:
    return {"type": kind, "summary": f"{kind} under faults", "parameters": parameters}


def test_a_slow_executor_runs_once_as_its_own_task_and_the_verdict_follows(stack):
    arn = stack.start(proposal(confidence=0.97, action=action("runs.slow", amount=5)), unique("slow"))
    result = verdict(stack, arn, timeout=20)
    assert result["outcome"] == "auto_approved" and result["execution"]["status"] == "succeeded"
    assert executor_runs(arn) == (["execute"], ["execute"])
    assert stack.states_entered(arn) == ["Prepare", "Route", "AutoApprove", "HoldForHuman", "Act", "RunAction",
                                         "Conclude"]
    assert events(stack, arn) == ["proposal_received", "action_executed", "auto_approved"]


def test_a_service_error_after_the_executor_returned_is_retried_and_the_action_runs_once(stack):
    arn = stack.start(proposal(confidence=0.5, action=action("runs.flaky", amount=7)), unique("flaky"))
    assert decide(stack, review_link(stack, arn), "approve", "ok").status == 200
    result = verdict(stack, arn, timeout=20)
    assert result["outcome"] == "approved" and result["execution"]["status"] == "succeeded"
    invoked, took_effect = executor_runs(arn)
    assert invoked == ["execute", "execute"] and took_effect == ["execute"]   # retried, honoured the key
    key = result["execution"]["result"]
    assert key == {"phase": "execute", "type": "runs.flaky", "parameters": {"amount": 7}, "staged": None}
    assert events(stack, arn).count("action_executed") == 1 and events(stack, arn).count("verdict_issued") == 1


def test_an_s3_failure_after_the_executor_is_retried_without_running_the_action_again(stack):
    s3_down = ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "PutObject")
    arn = stack.start(proposal(confidence=0.5, action=action("runs.action", amount=9)), unique("s3-after"))
    link = review_link(stack, arn)
    with inject(deps(stack, "lambdas.conclude").audit, "put_new", before=s3_down):
        assert decide(stack, link, "approve", "ok").status == 200
        result = verdict(stack, arn, timeout=20)
    assert result["outcome"] == "approved" and result["execution"]["status"] == "succeeded"
    assert executor_runs(arn) == (["execute"], ["execute"])
    trail = events(stack, arn)
    assert trail.count("action_executed") == 1 and trail.count("verdict_issued") == 1
    assert stack.states_entered(arn).count("Conclude") == 1   # one state, retried inside it


def test_the_executor_receives_an_idempotency_key_per_execution_review_and_phase(stack):
    arn = stack.start(proposal(confidence=0.99, action=action("staged.report", quarter="Q1")), unique("keys"))
    assert decide(stack, review_link(stack, arn), "approve", "ok").status == 200
    verdict(stack, arn)
    from tests.fixtures import ledger

    keys = [e["idempotency_key"] for e in ledger.INVOCATIONS if e["execution"] == arn]
    review_id = [r for r in stack.execution_records(arn) if r["event"] == "review_requested"][0]["review_id"]
    assert keys == [f"{arn}/{review_id}/stage", f"{arn}/{review_id}/promote"]
