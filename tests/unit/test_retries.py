"""Calls a 48-hour wait can survive: transient failures retried with capped, jittered backoff
inside a bounded outage, expired credentials looked up again once, everything else one line."""
from __future__ import annotations

import botocore.exceptions as errors
import pytest
from botocore.parsers import ResponseParserError

from countersign.adapters import retries
from countersign.adapters.retries import OUTAGE_LIMIT, CallFailed, Patient


def client_error(code: str, status: int = 400) -> errors.ClientError:
    return errors.ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                              "DescribeExecution")


class Meta:
    method_to_api_mapping = {"describe_execution": "DescribeExecution"}


class FakeClient:
    """Answers each call with the next scripted failure, then with success."""
    meta = Meta()

    def __init__(self, failures: list[Exception], forever: Exception | None = None) -> None:
        self.failures, self.forever, self.calls = list(failures), forever, 0

    def describe_execution(self, **kwargs):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        if self.forever is not None:
            raise self.forever
        return {"status": "RUNNING", **kwargs}


class Clock:
    def __init__(self) -> None:
        self.now, self.slept = 0.0, []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def patient(fake: FakeClient, patient: bool = True, clock: Clock | None = None, renewals: list | None = None):
    clock = clock or Clock()

    def make(renew: bool):
        if renew and renewals is not None:
            renewals.append(True)
        return fake
    return Patient(make, "http://127.0.0.1:5000", patient, sleep=clock.sleep, clock=lambda: clock.now), clock


@pytest.mark.parametrize("failure", [
    client_error("ThrottlingException"), client_error("InternalServerError", 500), client_error("", 503),
    errors.EndpointConnectionError(endpoint_url="http://127.0.0.1:5000"),
    errors.ConnectionClosedError(endpoint_url="http://127.0.0.1:5000"),
    errors.ReadTimeoutError(endpoint_url="http://127.0.0.1:5000")], ids=lambda e: type(e).__name__ + str(e)[:20])
def test_a_transient_failure_is_retried_and_the_call_succeeds(failure):
    fake = FakeClient([failure, failure, failure])
    call, clock = patient(fake)
    assert call.describe_execution(executionArn="a") == {"status": "RUNNING", "executionArn": "a"}
    assert fake.calls == 4 and len(clock.slept) == 3
    assert all(0 <= s <= ceiling for s, ceiling in zip(clock.slept, (0.5, 1, 2)))   # full jitter under a ceiling


def test_an_outage_is_retried_with_capped_backoff_then_told_in_one_line():
    fake = FakeClient([], forever=errors.EndpointConnectionError(endpoint_url="http://127.0.0.1:5000"))
    call, clock = patient(fake)
    with pytest.raises(CallFailed) as failed:
        call.describe_execution(executionArn="a")
    assert str(failed.value) == ("nothing is listening at http://127.0.0.1:5000 (is the sandbox running?), "
                                 "for 10 minutes")
    assert OUTAGE_LIMIT <= clock.now < OUTAGE_LIMIT + retries.BACKOFF_CAP
    assert max(clock.slept) <= retries.BACKOFF_CAP and fake.calls > 20    # patient, but never more than 30 s apart


def test_expired_credentials_are_looked_up_again_once():
    renewals: list = []
    fake = FakeClient([client_error("ExpiredTokenException")])
    call, _ = patient(fake, renewals=renewals)
    assert call.describe_execution(executionArn="a")["status"] == "RUNNING"
    assert renewals == [True]

    still = FakeClient([], forever=client_error("ExpiredTokenException"))
    call, _ = patient(still, renewals=renewals)
    with pytest.raises(CallFailed) as failed:
        call.describe_execution(executionArn="a")
    assert str(failed.value).startswith("the AWS credentials expired (ExpiredTokenException) and could not be "
                                        "refreshed: refresh them")
    assert still.calls == 2


def test_the_services_own_answer_is_the_callers_and_never_retried():
    fake = FakeClient([client_error("ExecutionDoesNotExist")])
    call, clock = patient(fake)
    with pytest.raises(errors.ClientError, match="ExecutionDoesNotExist"):
        call.describe_execution(executionArn="a")
    assert fake.calls == 1 and clock.slept == []


def test_an_endpoint_that_is_not_aws_is_named_as_such():
    for answer in (ResponseParserError("not xml"), client_error("404", 404)):
        call, _ = patient(FakeClient([answer]))
        with pytest.raises(CallFailed, match=r"^http://127.0.0.1:5000 is not an AWS endpoint .*: pass the sandbox's "
                                             r"AWS endpoint, which `countersign local` prints"):
            call.describe_execution(executionArn="a")


def test_a_first_contact_fails_at_once_on_a_refused_connection_but_waits_out_throttling():
    refused = FakeClient([errors.EndpointConnectionError(endpoint_url="http://127.0.0.1:5000")])
    call, _ = patient(refused, patient=False)
    with pytest.raises(errors.EndpointConnectionError):
        call.describe_execution(executionArn="a")
    throttled = FakeClient([client_error("ThrottlingException")])
    call, _ = patient(throttled, patient=False)
    assert call.describe_execution(executionArn="a")["status"] == "RUNNING"


def test_botocore_adds_no_hidden_retries_and_bounds_each_attempt():
    assert retries.CALL_CONFIG.retries == {"mode": "standard", "total_max_attempts": 1}
    assert (retries.CALL_CONFIG.connect_timeout, retries.CALL_CONFIG.read_timeout) == (5, 20)
