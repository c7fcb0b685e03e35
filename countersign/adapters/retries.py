"""AWS calls a pipeline can rely on: bounded, retried when the failure is transient, explained when not.

Every call has a connect and a read timeout and no hidden botocore retries. What a second attempt
can fix (throttling, a 5xx, a refused, dropped or timed-out connection, a restarted endpoint) is
retried here with capped exponential backoff and full jitter, for up to ``OUTAGE_LIMIT`` of
consecutive failures; expired credentials get one fresh lookup. Everything else becomes one line.
"""
from __future__ import annotations

import random
import time
from typing import Any, Callable
from urllib.parse import urlsplit

import botocore.config
import botocore.exceptions as errors
from botocore.parsers import ResponseParserError

CONNECT_TIMEOUT, READ_TIMEOUT = 5, 20          # seconds, per attempt
BACKOFF_BASE, BACKOFF_CAP = 0.5, 30.0          # seconds between attempts: 0.5, 1, 2, ... up to 30
OUTAGE_LIMIT = 600.0                           # give up after this long failing in a row
CALL_CONFIG = botocore.config.Config(connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                                     retries={"mode": "standard", "total_max_attempts": 1})

THROTTLED = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
             "ProvisionedThroughputExceededException", "SlowDown"}
EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
UNREACHABLE = (errors.EndpointConnectionError, errors.ConnectionClosedError, errors.ReadTimeoutError,
               errors.ConnectTimeoutError, errors.ProxyConnectionError)


def backoff(attempt: int) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): full jitter under a doubling, capped ceiling."""
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** attempt))


class CallFailed(RuntimeError):
    """A call that retrying could not fix; the message is one line naming the cause."""


def code_of(exc: Exception) -> str:
    return exc.response.get("Error", {}).get("Code", "") if isinstance(exc, errors.ClientError) else ""


def not_aws(exc: Exception) -> bool:
    """The endpoint answered, but not as AWS does (a web page, a 404 from some other server)."""
    if isinstance(exc, ResponseParserError):
        return True
    code = code_of(exc)     # botocore's stand-in when the body is no AWS error: the HTTP status
    return isinstance(exc, errors.ClientError) and not _server(exc) and (code.isdigit() or code in ("", "NotFound"))


def transient(exc: Exception) -> bool:
    if isinstance(exc, UNREACHABLE):
        return True
    if isinstance(exc, errors.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code_of(exc) in THROTTLED or status >= 500
    return False


def describe(exc: Exception, endpoint: str | None) -> str:
    """The cause, in words, for a failure that is not (or no longer) worth retrying."""
    where = endpoint or "AWS"
    if isinstance(exc, (errors.ReadTimeoutError, errors.ConnectTimeoutError)):
        limit = READ_TIMEOUT if isinstance(exc, errors.ReadTimeoutError) else CONNECT_TIMEOUT
        return f"{where} did not answer within {limit}s"
    if isinstance(exc, errors.EndpointConnectionError):
        local = endpoint and urlsplit(endpoint).hostname in ("127.0.0.1", "localhost", "::1")
        return f"nothing is listening at {where}" + (" (is the sandbox running?)" if local else "")
    if isinstance(exc, errors.ConnectionClosedError):
        return f"{where} dropped the connection"
    if not_aws(exc):
        hint = ": pass the sandbox's AWS endpoint, which `countersign local` prints (default http://127.0.0.1:5000)" \
            if endpoint and urlsplit(endpoint).hostname in ("127.0.0.1", "localhost", "::1") else ""
        return f"{where} is not an AWS endpoint (it answered {_answered(exc)}){hint}"
    if code_of(exc) in THROTTLED:
        return f"AWS kept throttling the calls ({code_of(exc)})"
    if code_of(exc) in EXPIRED:
        return (f"the AWS credentials expired ({code_of(exc)}) and could not be refreshed: refresh them "
                "(for example, re-run the step that assumes the role)")
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _answered(exc: Exception) -> str:
    if isinstance(exc, errors.ClientError):
        return f"HTTP {exc.response.get('ResponseMetadata', {}).get('HTTPStatusCode', '?')}"
    return "something that is not an AWS response"


def _server(exc: Exception) -> bool:
    return isinstance(exc, errors.ClientError) and exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500


class Patient:
    """A boto3 client whose operations retry transient failures (see the module docstring).

    ``renew`` gives a fresh client, with credentials looked up again, after an expired token;
    ``patient`` False fails at once on an unreachable endpoint (a first contact: say so now)."""

    def __init__(self, make: Callable[[bool], Any], endpoint: str | None, patient: bool = True,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self._make, self._client, self._endpoint = make, make(False), endpoint
        self.patient, self._sleep, self._clock = patient, sleep, clock

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._client.meta.method_to_api_mapping:
            return getattr(self._client, name)            # exceptions, meta, paginators: as they are
        return lambda **kwargs: self.call(name, **kwargs)

    def call(self, operation: str, **kwargs: Any) -> Any:
        failing_since, attempt, renewed = None, 0, False
        while True:
            try:
                return getattr(self._client, operation)(**kwargs)
            except Exception as exc:
                code = code_of(exc)
                if code in EXPIRED and not renewed:
                    self._client, renewed = self._make(True), True     # look the credentials up again
                    continue
                if not (code in EXPIRED or not_aws(exc) or transient(exc)) or (
                        not self.patient and isinstance(exc, UNREACHABLE)):
                    raise              # the service's own answer, or a first contact that failed: the caller's
                if code in EXPIRED or not_aws(exc) or not (self.patient or code in THROTTLED or _server(exc)):
                    raise CallFailed(describe(exc, self._endpoint)) from None
                failing_since = self._clock() if failing_since is None else failing_since
                if self._clock() - failing_since >= OUTAGE_LIMIT:
                    raise CallFailed(f"{describe(exc, self._endpoint)}, for {OUTAGE_LIMIT / 60:g} minutes") from None
                self._sleep(backoff(attempt))
                attempt += 1
