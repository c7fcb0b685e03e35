"""Fault injection into the deployed handlers' own adapters (their warm containers), plus the
operations a fault test needs: redeliver a stream record, run the reconciler, count callbacks."""
from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from typing import Any

import boto3
import pytest

from countersign.sandbox import lambda_runtime
from tests.fixtures import ledger


class Crash(RuntimeError):
    """An injected crash: the process dies right here (timeout, out of memory, throttled)."""


def deps(stack, handler: str):
    return lambda_runtime.handler_module(stack.deployment.function_name(handler)).DEPS


@contextmanager
def inject(obj: Any, name: str, *, before: Exception | None = None, after: Exception | None = None,
           times: int = 1):
    """Wrap ``obj.name``: for its first ``times`` calls raise ``before`` instead of calling it, or
    call it and then raise ``after``. Yields the list of calls made."""
    original, had = getattr(obj, name), name in vars(obj)
    calls: list[tuple] = []

    def wrapper(*args, **kwargs):
        calls.append(args)
        faulty = len(calls) <= times       # decided on entry: a nested call (a stream fired inside) is its own
        if faulty and before is not None:
            raise before
        result = original(*args, **kwargs)
        if faulty and after is not None:
            raise after
        return result

    setattr(obj, name, wrapper)
    try:
        yield calls
    finally:
        if had:
            setattr(obj, name, original)
        else:
            delattr(obj, name)


def stream_attempts(stack) -> int:
    """How often the stream delivers a failing record: once, plus the mapping's retries."""
    [mapping] = [r["Properties"] for r in stack.deployment.template["Resources"].values()
                 if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    return 1 + int(mapping["MaximumRetryAttempts"])


def dispatcher_down(stack, times: int | None = None):
    """Every delivery of the stream's record crashes before the dispatcher claims anything (a
    record the stream gives up on, or a dispatcher held back while a timer runs out)."""
    return inject(deps(stack, "lambdas.dispatcher").reviews, "claim_dispatch", before=Crash("dispatcher down"),
                  times=times or stream_attempts(stack))


@contextmanager
def answered(client, operation: str, status: int, code: str, times: int = 1):
    """The service answers ``operation`` with an HTTP error for its first ``times`` calls, in place
    of the request (the SDK's own retries then apply). Yields the list of calls answered so."""
    from botocore.awsrequest import AWSResponse
    from botocore.endpoint import convert_to_response_dict

    endpoint, failed = client._endpoint, []
    original = endpoint._do_get_response

    def do_get_response(request, operation_model, context):
        if operation_model.name != operation or len(failed) >= times:
            return original(request, operation_model, context)
        failed.append(operation)
        body = json.dumps({"__type": code, "message": f"injected {code}"}).encode()
        error = f"<Error><Type>Sender</Type><Code>{code}</Code><Message>injected</Message></Error>"
        if operation_model.metadata["protocol"] == "query":
            body = f"<ErrorResponse>{error}</ErrorResponse>".encode()
        elif operation_model.metadata["protocol"] == "rest-xml":
            body = error.encode()
        raw = type("Raw", (), {"stream": lambda self, **_: iter([body])})()
        http = AWSResponse(request.url, status, {"x-amzn-requestid": "injected"}, raw)
        parser = endpoint._response_parser_factory.create_parser(operation_model.metadata["protocol"])
        parsed = parser.parse(convert_to_response_dict(http, operation_model), operation_model.output_shape)
        return (http, parsed), None

    endpoint._do_get_response = do_get_response
    try:
        yield failed
    finally:
        del endpoint._do_get_response


@pytest.fixture
def dead_letters(stack):
    """The dispatcher's dead-letter queue, emptied for this test; call it to read what is there."""
    sqs, url = boto3.client("sqs"), stack.deployment.outputs["DeadLetterQueueUrl"]
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in got:     # (PurgeQueue may run once a minute)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def read() -> list[dict]:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return [json.loads(m["Body"]) for m in got.get("Messages", [])]
    return read


@contextmanager
def clock_ahead(stack, handler: str, seconds: float):
    with inject_value(deps(stack, handler), "clock", lambda: time.time() + seconds):
        yield


@contextmanager
def inject_value(obj: Any, name: str, value: Any):
    original = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, original)


@pytest.fixture
def callbacks(stack):
    """Every callback the dispatcher and the reconciler made, as (reviewer, accepted)."""
    made: list[tuple[str, bool]] = []
    lock = threading.Lock()
    patched = []
    for handler in ("lambdas.dispatcher", "lambdas.reconciler"):
        adapter = deps(stack, handler).callbacks
        original = adapter.deliver

        def counted(token, decision, _original=original):
            accepted = _original(token, decision)
            with lock:
                made.append((decision.reviewer, accepted))
            return accepted

        adapter.deliver = counted
        patched.append(adapter)
    yield made
    for adapter in patched:
        del adapter.deliver


def review_item(stack, review_id: str) -> dict:
    return boto3.client("dynamodb").get_item(
        TableName=stack.table, Key={"pk": {"S": f"REVIEW#{review_id}"}, "sk": {"S": "REVIEW"}},
        ConsistentRead=True)["Item"]


def invoke(stack, handler: str, event: dict) -> dict:
    got = boto3.client("lambda").invoke(FunctionName=stack.deployment.function_name(handler),
                                        Payload=json.dumps(event))
    body = json.loads(got["Payload"].read())
    assert "FunctionError" not in got, body
    return body


def redeliver(stack, review_id: str) -> dict:
    """The stream delivers the PENDING → DECIDED record (again)."""
    item = review_item(stack, review_id)
    new = {**item, "status": {"S": "DECIDED"}}
    return invoke(stack, "lambdas.dispatcher", {"Records": [{
        "eventID": "redelivery", "eventName": "MODIFY", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026",
        "dynamodb": {"Keys": {"pk": item["pk"], "sk": item["sk"]}, "SequenceNumber": "100", "NewImage": new,
                     "OldImage": {**item, "status": {"S": "PENDING"}}, "StreamViewType": "NEW_AND_OLD_IMAGES"}}]})


def reconcile(stack, ahead: float = 0) -> dict:
    """What the schedule (or ``countersign redrive``) does, optionally with the clock moved on."""
    with clock_ahead(stack, "lambdas.reconciler", ahead):
        return invoke(stack, "lambdas.reconciler", {"source": "aws.events", "detail-type": "Scheduled Event"})


def events(stack, arn: str) -> list[str]:
    return [r["event"] for r in stack.execution_records(arn)]


def verdict(stack, arn: str, timeout: float = 15) -> dict:
    done = stack.wait(arn, timeout=timeout)
    assert done["status"] == "SUCCEEDED", done
    return json.loads(done["output"])


def executor_runs(arn: str) -> tuple[list[str], list[str]]:
    """(every executor invocation's phase, every phase that took effect) for one execution."""
    return ledger.invocations(arn), ledger.effects(arn)
