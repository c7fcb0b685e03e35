"""Every click counts exactly once when the dispatcher dies at each step after the decision's
write: the stream's retries leave a fresh claim to its holder (acknowledged, so nothing reaches
the dead-letter queue), and the reconciler finishes the review once, through the same code path."""
from __future__ import annotations

import json
import logging
import threading

import pytest

from countersign.sandbox import lambda_runtime
from countersign.workflow.outbox import stale_after
from tests.faults.conftest import (Crash, deps, dispatcher_down, events, inject, invoke, reconcile, redeliver,
                                   review_item, verdict)
from tests.helpers import decide, proposal, review_id_of, review_link, unique

STALE = stale_after(30) + 1


def crash_point(stack, step: str):
    dispatcher = deps(stack, "lambdas.dispatcher")
    return {
        "after the claim": lambda: inject(dispatcher.reviews, "claim_dispatch", after=Crash(step)),
        "after the audit": lambda: inject(dispatcher.callbacks, "deliver", before=Crash(step)),
        "after the callback": lambda: inject(dispatcher.callbacks, "deliver", after=Crash(step)),
    }[step]()


@pytest.mark.parametrize("step", ["after the claim", "after the audit", "after the callback"])
def test_a_dispatcher_crash_is_finished_by_the_reconciler_exactly_once(stack, callbacks, dead_letters, step):
    arn = stack.start(proposal(), unique("crash"))
    link = review_link(stack, arn)
    review_id = review_id_of(stack, arn)
    with crash_point(stack, step):
        assert decide(stack, link, "approve", "Duplicate charge confirmed.").status == 200
    assert review_item(stack, review_id)["status"]["S"] == "DISPATCHING"
    assert redeliver(stack, review_id) == {"batchItemFailures": []}   # the claim is fresh: left to its holder
    assert dead_letters() == []                     # the stream's retries did not give up on it
    assert reconcile(stack)["held"] >= 1            # a sweep leaves a fresh claim to its holder
    sweep = reconcile(stack, ahead=STALE)           # later: the claim is stale, the sweep takes over
    assert review_id in sweep["reviews"] and sweep["resumed"] >= 1
    assert verdict(stack, arn)["outcome"] == "approved"
    accepted = [ok for _, ok in callbacks if ok]
    assert accepted == [True]                       # the workflow was called back exactly once
    trail = events(stack, arn)
    assert trail.count("decision_recorded") == 1 and trail.count("dispatch_resumed") == 1
    assert trail.count("verdict_issued") == 1 and "late_decision" not in trail
    [resumed] = [r for r in stack.execution_records(arn) if r["event"] == "dispatch_resumed"]
    assert resumed["claim_age_seconds"] >= STALE - 1 and resumed["review_id"] == review_id
    item = review_item(stack, review_id)
    assert item["status"]["S"] == "DISPATCHED" and "outbox" not in item
    assert ("delivered_at" in item) == (step != "after the callback")   # recorded, never inferred
    assert review_id not in reconcile(stack, ahead=STALE)["reviews"]    # nothing left to redrive
    assert dead_letters() == []


def decided_undelivered(stack, name: str, choice: str, rationale: str) -> tuple[str, str]:
    """A decision whose stream record failed every delivery: (execution, review id)."""
    arn = stack.start(proposal(), unique(name))
    link = review_link(stack, arn)
    with dispatcher_down(stack):
        assert decide(stack, link, choice, rationale).status == 200
    return arn, review_id_of(stack, arn)


def test_a_stream_record_the_stream_gives_up_on_is_delivered_by_the_reconciler(stack, callbacks, dead_letters):
    arn, review_id = decided_undelivered(stack, "lost-record", "reject", "Not a duplicate.")
    assert [d["requestContext"]["condition"] for d in dead_letters()] == ["RetryAttemptsExhausted"]
    assert review_item(stack, review_id)["outbox"]["S"] == "due"      # listed by the sparse index
    assert review_id in reconcile(stack)["reviews"]
    assert verdict(stack, arn)["outcome"] == "rejected"
    assert callbacks == [("alice", True)]
    assert events(stack, arn).count("decision_recorded") == 1
    assert len(dead_letters()) == 1                 # the schedule's sweep leaves the dead letter to an operator


def test_the_reconciler_racing_the_dispatcher_calls_back_once(stack, callbacks):
    arn, review_id = decided_undelivered(stack, "race", "approve", "ok")
    results: dict[str, object] = {}
    start = threading.Barrier(2)

    def run(name, call):
        start.wait()
        results[name] = call()

    threads = [threading.Thread(target=run, args=("stream", lambda: redeliver(stack, review_id))),
               threading.Thread(target=run, args=("sweep", lambda: reconcile(stack)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert verdict(stack, arn)["outcome"] == "approved"
    assert callbacks == [("alice", True)]
    assert events(stack, arn).count("decision_recorded") == 1
    assert review_item(stack, review_id)["status"]["S"] == "DISPATCHED"


def test_a_delivered_decision_redelivered_by_the_stream_is_acknowledged_and_not_resent(stack, callbacks):
    arn = stack.start(proposal(), unique("twice"))
    assert decide(stack, review_link(stack, arn), "approve", "ok").status == 200
    assert verdict(stack, arn)["outcome"] == "approved"
    assert redeliver(stack, review_id_of(stack, arn)) == {"batchItemFailures": []}
    assert callbacks == [("alice", True)]


def test_the_sandbox_refuses_a_callback_on_a_closed_task_as_aws_does(stack):
    arn = stack.start(proposal(action={"type": "quick.timeout", "summary": "x", "parameters": {}}), unique("closed"))
    review_id = review_id_of(stack, arn)
    token = review_item(stack, review_id)["task_token"]["S"]
    assert verdict(stack, arn)["outcome"] == "expired"
    sfn = stack.sfn
    for send in (lambda: sfn.send_task_success(taskToken=token, output="{}"),
                 lambda: sfn.send_task_failure(taskToken=token, error="Countersign.Rejected")):
        with pytest.raises(sfn.exceptions.ClientError) as refused:
            send()
        assert refused.value.response["Error"]["Code"] == "TaskTimedOut"


def test_a_record_that_fails_is_named_by_its_sequence_number_and_the_rest_of_the_batch_still_runs(stack):
    """A partial batch response: only the failed record is retried; its log line names the error's
    type and the sequence number, never the stream image (which holds the task token)."""
    arn = stack.start(proposal(), unique("batch"))
    review_link(stack, arn)
    item = review_item(stack, review_id_of(stack, arn))

    def record(sequence: str, name: str) -> dict:
        return {"eventID": sequence, "eventName": name, "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026",
                "dynamodb": {"Keys": {"pk": item["pk"], "sk": item["sk"]}, "SequenceNumber": sequence,
                             "NewImage": {**item, "status": {"S": "DECIDED"}},
                             "OldImage": {**item, "status": {"S": "PENDING"}}, "StreamViewType": "NEW_AND_OLD_IMAGES"}}

    dispatcher = lambda_runtime.handler_module(stack.deployment.function_name("lambdas.dispatcher"))
    lines = Lines()          # what the function's logger prints, formatted as it prints it
    lines.setFormatter(dispatcher.logger.registered_formatter)
    dispatcher.logger.addHandler(lines)
    try:
        with inject(dispatcher.DEPS.reviews, "claim_dispatch", before=Crash("throttled")) as calls:
            answer = invoke(stack, "lambdas.dispatcher", {"Records": [record("201", "MODIFY"),
                                                                      record("202", "INSERT"), record("203", "MODIFY")]})
    finally:
        dispatcher.logger.removeHandler(lines)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "201"}]} and len(calls) == 2   # 203 ran after it
    [logged] = [json.loads(line) for line in lines.printed if "record failed" in line]
    assert (logged["error"], logged["sequence"], logged["level"]) == ("Crash", "201", "WARNING")
    assert not [line for line in lines.printed if item["task_token"]["S"] in line]


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.printed: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.printed.append(self.format(record))
