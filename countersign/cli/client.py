"""The pipeline's side: find a deployed gate, submit a proposal, wait for the verdict.

Used by ``countersign submit`` / ``status``. Works against AWS (default credentials, resources
found from the stack's outputs) and against the sandbox (an endpoint URL).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import boto3

from countersign.adapters import retries
from countersign.rules.proposal import content_hash
from countersign.workflow.submission import proposal_of

# outcome → exit code (documented in the README and in `countersign --help`): no two meanings share a code
EXIT = {"approved": 0, "auto_approved": 0, "rejected": 2, "vetoed": 2, "reversed": 2, "expired": 3,
        "invalid": 4, "pending": 5, "halted": 6, "modified": 7}
EXIT_ERROR, EXIT_INVALID, EXIT_PENDING, EXIT_USAGE = 1, 4, 5, 64
EXIT_TABLE = """exit codes:
  0   approved or auto-approved: act on the proposal (a modified approval too, with --proceed-on-modified)
  1   error (an executor's failure included); the message says which
  2   rejected, vetoed or reversed by a human
  3   expired: nobody decided in time, so the action is refused
  4   invalid proposal, or an idempotency key reused for another proposal: nothing started
  5   pending: not decided yet (no --wait, --timeout reached, or status of a running review)
  6   halted by the kill switch
  7   modified: approved with changes; act on final_action, not on your proposal
  64  usage error (a mistyped flag or value)"""


class ClientError(RuntimeError):
    """Something the user can fix: a missing stack, no credentials, an unknown execution."""


SANDBOX_CREDENTIALS = {"aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox"}
SANDBOX_REGION = "us-east-1"


def session_for(endpoint: str | None, region: str | None) -> boto3.session.Session:
    """The caller's own AWS session. Against a sandbox (an endpoint) with no credentials or region
    configured, the sandbox's fixed local ones; a user's real credentials are never overridden."""
    session = boto3.session.Session(region_name=region)
    if not endpoint:
        return session
    if session.get_credentials() is None:
        session = boto3.session.Session(region_name=region or SANDBOX_REGION, **SANDBOX_CREDENTIALS)
    elif session.region_name is None:
        session = boto3.session.Session(region_name=SANDBOX_REGION)
    return session


def _cannot_read(stack: str, endpoint: str | None, region: str | None, exc: Exception) -> ClientError:
    """One line that says what is wrong and what to do, for each way finding the stack fails."""
    import botocore.exceptions as errors

    where = f"at {endpoint}" if endpoint else f"in AWS ({region or 'no region configured'})"
    if isinstance(exc, errors.NoCredentialsError):
        return ClientError("no AWS credentials found: configure them (aws configure, AWS_PROFILE or AWS_* "
                           "variables), or pass --endpoint to use the local sandbox")
    if isinstance(exc, errors.NoRegionError):
        return ClientError("no AWS region configured: pass --region or set AWS_REGION")
    if isinstance(exc, errors.EndpointConnectionError):
        if endpoint and urlsplit(endpoint).hostname in ("127.0.0.1", "localhost", "::1"):
            return ClientError(f"no sandbox is running at {endpoint}: start it with `make local` "
                               "(or `countersign local`) in another terminal")
        return ClientError(f"cannot reach {endpoint or 'AWS'}: check the address and your network")
    if isinstance(exc, retries.UNREACHABLE) or isinstance(exc, retries.CallFailed):
        return ClientError(str(exc) if isinstance(exc, retries.CallFailed) else retries.describe(exc, endpoint))
    if isinstance(exc, errors.ClientError) and "does not exist" in str(exc):
        advice = "pass --stack with the sandbox's stack name" if endpoint else \
            "deploy it (make deploy), or pass --stack, or --endpoint for the local sandbox"
        return ClientError(f"there is no stack {stack!r} {where}: {advice}")
    return ClientError(f"cannot read stack {stack!r} {where}: {exc}")


@dataclass
class Target:
    stack: str
    outputs: dict[str, str]
    session: Any
    endpoint: str | None = None

    def client(self, service: str, patient: bool = True) -> Any:
        """A client with bounded, retried calls (``retries.Patient``); after an expired token it
        looks the credentials up again (an assumed role or OIDC session refreshed meanwhile)."""
        def make(renew: bool) -> Any:
            if renew:
                self.session = session_for(self.endpoint, self.session.region_name)
            return self.session.client(service, endpoint_url=self.endpoint, config=retries.CALL_CONFIG)
        return retries.Patient(make, self.endpoint, patient)

    @cached_property
    def sfn(self) -> Any:
        return self.client("stepfunctions")

    @cached_property
    def ssm(self) -> Any:
        return self.client("ssm")

    @classmethod
    def find(cls, stack: str, endpoint: str | None = None, region: str | None = None) -> "Target":
        session = session_for(endpoint, region)
        try:
            found = cls(stack, {}, session, endpoint).client("cloudformation", patient=False).describe_stacks(
                StackName=stack)
        except Exception as exc:  # credentials, network, missing stack: each has its own advice
            raise _cannot_read(stack, endpoint, session.region_name, exc) from None
        outputs = {o["OutputKey"]: o["OutputValue"] for o in found["Stacks"][0].get("Outputs", [])}
        return cls(stack, outputs, session, endpoint)

    def state_machine(self, workflow: str | None) -> str:
        if workflow and workflow.startswith("arn:"):
            return workflow
        arn = self.outputs["StateMachineArn"]
        if workflow and arn.rsplit(":", 1)[1] != workflow:
            raise ClientError(f"stack {self.stack} has no workflow {workflow!r} (it has {arn.rsplit(':', 1)[1]})")
        return arn

    def policy(self) -> dict[str, Any] | None:
        """The deployed policy, for a full local check; None when it cannot be read."""
        try:
            value = self.ssm.get_parameter(Name=self.outputs["PolicyParameterName"])["Parameter"]["Value"]
            return json.loads(value)
        except Exception:
            return None

    def execution_arn(self, execution: str, workflow: str | None = None) -> str:
        if execution.startswith("arn:"):
            return execution
        machine = self.state_machine(workflow)
        return machine.replace(":stateMachine:", ":execution:") + ":" + execution


def check_proposal(target: Target, proposal: Any) -> dict[str, Any] | None:
    """Validate a proposal before anything starts: its shape, and the deployed policy when the
    caller may read it (``InvalidProposal`` with paths). Returns that policy, or None."""
    from countersign.rules.proposal import check, check_shape

    check_shape(proposal)
    policy = target.policy()
    if policy is not None:
        check(proposal, policy, [])
    return policy


class KeyReused(ClientError):
    """An idempotency key already used for a different proposal: refused, never joined."""


def start(target: Target, proposal: dict[str, Any], workflow: str | None, name: str,
          key: str | None = None) -> tuple[str, bool]:
    """Start execution ``name`` (``proposal.execution_name``: the idempotency key) for this proposal,
    or join the one the key already started for the same content; returns (arn, newly_started).
    The same key with other content is refused. Safe to retry: the name makes it idempotent."""
    machine = target.state_machine(workflow)
    existing = target.execution_arn(name, workflow)
    try:
        _same_content(target, existing, proposal, key)
        return existing, False            # a retried step: join the review already under way
    except target.sfn.exceptions.ExecutionDoesNotExist:
        pass
    try:
        if target.outputs.get("SubmitApiUrl") and machine == target.outputs.get("StateMachineArn"):
            return _submit_signed(target, name, proposal), True
        arn = target.sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(proposal))["executionArn"]
        return arn, True
    except (target.sfn.exceptions.ExecutionAlreadyExists, _AlreadyStarted):   # meanwhile: the same check applies
        _same_content(target, existing, proposal, key)
        return existing, False


class _AlreadyStarted(Exception):
    pass


def _submit_signed(target: Target, name: str, proposal: dict[str, Any], attempts: int = 4) -> str:
    """POST the proposal to the authenticated submit path, SigV4-signed for execute-api: API Gateway
    verifies the signature and stamps this caller's IAM principal into the execution input.
    Retried on a dropped connection or a 5xx/429 answer; the name makes a retry idempotent."""
    import time
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    url = target.outputs["SubmitApiUrl"].rstrip("/") + "/submissions"
    credentials = target.session.get_credentials()
    if credentials is None:
        raise ClientError("no AWS credentials found: the submit path needs them to sign the request")
    for attempt in range(attempts):
        signed = AWSRequest("POST", url, data=json.dumps(proposal).encode(),
                            headers={"Content-Type": "application/json", "Idempotency-Key": name})
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", target.session.region_name).add_auth(signed)
        request = urllib.request.Request(url, data=signed.body, headers=dict(signed.headers), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=retries.READ_TIMEOUT) as answer:
                return json.loads(answer.read())["executionArn"]
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace")
            if "ExecutionAlreadyExists" in text:
                raise _AlreadyStarted() from None
            if exc.code in (403, 401):
                raise ClientError(f"the submit path refused the request ({exc.code}): the caller needs "
                                  f"execute-api:Invoke on POST /submissions of stack {target.stack}") from None
            if exc.code < 500 and exc.code != 429:
                raise ClientError(f"the submit path answered {exc.code}: {text[:300]}") from None
            failure = f"the submit path answered {exc.code}"
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            failure = f"cannot reach the submit path {url}: {getattr(exc, 'reason', exc)}"
        time.sleep(retries.backoff(attempt))
    raise retries.CallFailed(failure)


def bound_elsewhere(described: dict[str, Any], proposal: dict[str, Any]) -> str | None:
    """Why this execution does not decide ``proposal`` (started for other content, or a verdict
    bound to other content), or None when it does."""
    arn, wanted = described["executionArn"], content_hash(proposal)
    if content_hash(proposal_of(json.loads(described.get("input") or "{}"))) != wanted:
        return f"{arn} was started for a different proposal; its verdict does not apply to this one"
    verdict = json.loads(described.get("output") or "{}") if described.get("status") == "SUCCEEDED" else {}
    if verdict.get("proposal_sha256", wanted) != wanted:
        return f"the verdict of {arn} is for a different proposal; it does not approve this one"
    return None


def _same_content(target: Target, arn: str, proposal: dict[str, Any], key: str | None) -> None:
    started = proposal_of(json.loads(target.sfn.describe_execution(executionArn=arn).get("input") or "{}"))
    if content_hash(started) != content_hash(proposal):
        used = key or proposal.get("idempotency_key")
        raise KeyReused(f"idempotency key {used!r} was already used for a different proposal ({arn}); "
                        "a key names one proposal: use a new key for this one")


def verdict_of(described: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Exit code and the document to print for a finished execution."""
    arn = described["executionArn"]
    if described["status"] == "SUCCEEDED":
        verdict = {**json.loads(described.get("output") or "{}"), "executionArn": arn}
        if (verdict.get("execution") or {}).get("status") == "failed":
            return EXIT_ERROR, verdict          # approved, but the executor could not carry it out
        return EXIT.get(verdict.get("outcome"), EXIT_ERROR), verdict
    error = described.get("error", described["status"])
    outcome = {"Countersign.InvalidProposal": "invalid", "Countersign.Halted": "halted"}.get(error, "failed")
    body = {"outcome": outcome, "executionArn": arn, "status": described["status"], "error": error,
            "cause": described.get("cause")}
    return EXIT.get(outcome, EXIT_ERROR), body


def set_kill_switch(target: Target, mode: str, reason: str) -> dict:
    """Flip the kill switch and audit who flipped it, from what, to what, and why."""
    from countersign.evidence import audit
    from countersign.adapters.aws import S3AuditStore

    name = target.outputs["KillSwitchParameterName"]
    before = target.ssm.get_parameter(Name=name)["Parameter"]["Value"]
    actor = target.client("sts").get_caller_identity()["Arn"]
    target.ssm.put_parameter(Name=name, Value=mode, Overwrite=True)
    store = S3AuditStore(target.client("s3"), target.outputs["AuditBucketName"])
    at = audit.now_iso()
    stream = f"kill-switch/{at[:10].replace('-', '/')}/{at[11:23].replace(':', '').replace('.', '')}"
    policy = target.policy() or {}
    return audit.append(store, stream, "kill_switch_changed",
                        {"actor": actor, "from": before, "to": mode, "reason": reason, "parameter": name,
                         "policy": {"version": policy.get("version")}})


def invoke(target: Target, output: str, what: str, event: dict[str, Any] | None = None) -> Any:
    """Invoke one of the stack's own functions (named by a stack output) and return its answer."""
    name = target.outputs.get(output)
    if not name:
        raise ClientError(f"stack {target.stack} has no {what}; deploy the current version")
    got = target.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event or {}).encode())
    body = json.loads(got["Payload"].read() or b"null")
    if got.get("FunctionError"):
        raise ClientError(f"the {what} failed: {(body or {}).get('errorType')}: {(body or {}).get('errorMessage')}")
    return body


def redrive(target: Target) -> dict[str, Any]:
    """Run the reconciler now (the same function and code path as its schedule): finish every
    decision left undispatched, then clear the dead letters that made moot. Safe to repeat: a
    decision already delivered is never sent twice."""
    return invoke(target, "ReconcilerFunctionName", "reconciler", {"redrive": True})
