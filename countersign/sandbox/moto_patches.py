"""Patches for moto 5.2.5 gaps that would otherwise make the sandbox differ from AWS.

Each patch is narrow and says what it fixes; ``docs/moto.md`` lists them with the evidence.
"""
from __future__ import annotations

_applied = False
SENT_AT: dict[str, float] = {}   # SNS message id → when it was published (moto keeps no time)


def apply() -> None:
    global _applied
    if _applied:
        return
    _applied = True
    _execution_start_time_as_iso()
    _cloudformation_state_machines_into_interpreter()
    _lambda_in_process()
    _bucket_policies_see_tls()
    _sns_publish_times()
    _closed_tasks_refuse_callbacks()
    _history_honours_reverse_order()
    _schedules_match_no_events()
    _stream_retries_and_failure_destination()
    _kms_signs_digests_as_given()


def _execution_start_time_as_iso() -> None:
    """``$$.Execution.StartTime`` is a datetime in moto (AWS: an ISO string), which breaks
    Parameters that pass it on and ``describe_execution`` output."""
    from moto.stepfunctions.parser.backend.execution import Execution

    original = Execution.get_start_execution_details

    def details(self):
        result = original(self)
        start = self.start_date
        result.start_time = start.isoformat().replace("+00:00", "Z") if hasattr(start, "isoformat") else start
        return result

    Execution.get_start_execution_details = details


def _cloudformation_state_machines_into_interpreter() -> None:
    """CloudFormation creates state machines in the classic backend, while the API (with the
    interpreter on) reads the parser backend: point CloudFormation at the parser backend."""
    import moto.stepfunctions.models as classic
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    classic.stepfunctions_backends = stepfunctions_parser_backends


def _lambda_in_process() -> None:
    """Run Lambda handlers in this process instead of in Docker (see ``lambda_runtime``)."""
    from moto.awslambda.models import LambdaFunction

    import os

    from countersign.sandbox.lambda_runtime import BASE_ENV, invoke_in_process

    LambdaFunction._invoke_lambda = invoke_in_process
    os.environ.update(BASE_ENV)   # Powertools settings read at call time, the same for every function


def _bucket_policies_see_tls() -> None:
    """moto evaluates bucket policies without request context and ignores ``Bool`` conditions, so
    the standard TLS-only statement (Deny when aws:SecureTransport is false) denies every request.
    Requests to AWS are always TLS: drop exactly that statement before moto evaluates the rest."""
    import json

    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def applies_over_tls(statement: dict) -> bool:
        return statement.get("Condition") != {"Bool": {"aws:SecureTransport": "false"}}

    def get_permission(self, action: str, resource: str):
        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy.decode())
        statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
        document["Statement"] = [st for st in statements if applies_over_tls(st)]
        if not document["Statement"]:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps(document)).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission


def _sns_publish_times() -> None:
    """Record when each SNS message was published, for the outbox's ``sent_at``."""
    import time

    from moto.sns.models import Topic

    original = Topic.publish

    def publish(self, *args, **kwargs):
        message_id = original(self, *args, **kwargs)
        SENT_AT[message_id] = time.time()
        return message_id

    Topic.publish = publish


def _closed_tasks_refuse_callbacks() -> None:
    """AWS answers ``TaskTimedOut`` to SendTaskSuccess/Failure on a token whose task timed out
    or was already completed. moto accepts both silently (it never reports the timeout to the
    callback endpoint). Mark an endpoint closed once its wait ends, and refuse a second outcome."""
    from moto.stepfunctions.parser.asl.eval.callback import callback as cb

    original_wait = cb.CallbackEndpoint.wait

    def wait(self, timeout=None):
        outcome = original_wait(self, timeout)
        if outcome is None:
            self.report(cb.CallbackConsumerTimeout())
        return outcome

    original_notify = cb.CallbackPoolManager.notify

    def notify(self, callback_id, outcome):
        endpoint = self.get(callback_id)
        if endpoint is not None and endpoint.get_outcome() is not None:
            raise cb.CallbackNotifyConsumerError(callback_consumer_error=cb.CallbackConsumerTimeout())
        return original_notify(self, callback_id, outcome)

    cb.CallbackEndpoint.wait = wait
    cb.CallbackPoolManager.notify = notify

    # moto raises these two without the message and error code their constructor needs
    from moto.stepfunctions.parser import api, models

    def error(name: str):
        def init(self, message: str = "the task token has expired or its task has already been closed"):
            getattr(api, name).__init__(self, message, exception_type=name)
        return type(name, (getattr(api, name),), {"__init__": init})

    # and its isinstance check tests the wrapper, so a closed task always came out as TaskDoesNotExist:
    # that branch is only reached for a closed task, which AWS answers with TaskTimedOut
    models.TaskTimedOut = models.TaskDoesNotExist = error("TaskTimedOut")

    # SendTaskSuccess looks only at running executions (InvalidToken once the execution ended),
    # and both accept a token of an execution that has ended: a closed task answers TaskTimedOut
    from moto.stepfunctions.parser.api import ExecutionStatus

    def deliver(self, task_token, outcome):
        for execution in self._get_executions():
            pool = execution.exec_worker.env.callback_pool_manager
            if pool.get(task_token) is None:
                continue
            if execution.exec_status != ExecutionStatus.RUNNING:
                raise models.TaskTimedOut()
            try:
                if pool.notify(callback_id=task_token, outcome=outcome):
                    return
            except cb.CallbackNotifyConsumerError:
                raise models.TaskTimedOut() from None
        raise models.InvalidToken()

    def send_task_success(self, task_token, outcome):
        deliver(self, task_token, cb.CallbackOutcomeSuccess(callback_id=task_token, output=outcome))

    def send_task_failure(self, task_token, error=None, cause=None):
        deliver(self, task_token, cb.CallbackOutcomeFailure(callback_id=task_token, error=error, cause=cause))

    models.StepFunctionsParserBackend.send_task_failure = send_task_failure
    models.StepFunctionsParserBackend.send_task_success = send_task_success


def _history_honours_reverse_order() -> None:
    """``GetExecutionHistory`` ignores ``reverseOrder`` and ``maxResults`` in moto: always every
    event, oldest first. A client reading "the newest events" would see the oldest ones."""
    from moto.core.responses import ActionResult
    from moto.stepfunctions.responses import StepFunctionResponse

    original = StepFunctionResponse.get_execution_history

    def history(self):
        result = original(self).result
        events = list(result.get("events") or [])
        if self._get_param("reverseOrder"):
            events.reverse()
        limit = self._get_param("maxResults")
        return ActionResult({**result, "events": events[:limit] if limit else events})

    StepFunctionResponse.get_execution_history = history


def _kms_signs_digests_as_given() -> None:
    """KMS ``Sign`` with ``MessageType: DIGEST`` signs the given 32-byte SHA-256 as it is; moto
    ignores the message type and hashes it again, as for RAW. Sign it prehashed, as AWS does (the
    decision receipts are signed so), for an ECDSA_SHA_256 key; another key or algorithm with DIGEST
    is refused rather than signed wrongly."""
    import base64
    import json

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils
    from moto.kms.exceptions import ValidationException
    from moto.kms.responses import KmsResponse
    from moto.kms.utils import ECDSAPrivateKey

    original = KmsResponse.sign

    def sign(self):
        if self._get_param("MessageType") != "DIGEST":
            return original(self)
        key = self.kms_backend.describe_key(self._get_param("KeyId"))
        algorithm, message = self._get_param("SigningAlgorithm"), self._get_param("Message")
        message = message.encode("utf-8") if isinstance(message, str) else message
        if not isinstance(key.private_key, ECDSAPrivateKey) or algorithm != "ECDSA_SHA_256" \
                or algorithm not in key.signing_algorithms:
            raise NotImplementedError("the sandbox signs a DIGEST with an ECDSA_SHA_256 key only")
        if len(message) != 32:
            raise ValidationException("Digest is invalid length for algorithm ECDSA_SHA_256.")
        signature = key.private_key.private_key.sign(message, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        return json.dumps({"KeyId": key.arn, "Signature": base64.b64encode(signature).decode(),
                           "SigningAlgorithm": algorithm})

    KmsResponse.sign = sign


def _schedules_match_no_events() -> None:
    """A scheduled rule (no event pattern) matches every event moto puts on its bus, then fails on
    its Lambda target (``NotImplementedError``), so ``PutEvents`` fails whenever the stack's
    schedules exist. On AWS a schedule matches no event: skip such rules."""
    from moto.events.models import Rule

    original = Rule.send_to_targets

    def send_to_targets(self, *args, **kwargs):
        if self.scheduled_expression and not self.event_pattern.dump():
            return None
        return original(self, *args, **kwargs)

    Rule.send_to_targets = send_to_targets


def _stream_retries_and_failure_destination() -> None:
    """moto invokes a DynamoDB stream's function once per batch and drops the batch whatever the
    answer. AWS retries a failed batch (a function error, or the records a ``batchItemFailures``
    answer names, from the first one on) up to the mapping's ``MaximumRetryAttempts``, then sends
    the batch's metadata (never the records) to its ``OnFailure`` destination and moves on. The
    retries here follow at once (AWS documents no interval)."""
    import datetime as dt
    import json
    import uuid

    from moto.awslambda.models import LambdaBackend
    from moto.sqs.models import sqs_backends

    original = LambdaBackend.send_dynamodb_items

    def mapping(backend, function_arn: str, source: str):
        return next((m for m in backend._event_source_mappings.values()
                     if m.function_arn == function_arn and m.event_source_arn == source), None)

    def failed(answer, batch: list, reports_items: bool) -> list:
        try:
            payload = json.loads(answer or b"null")
        except ValueError:
            return batch
        if isinstance(payload, dict) and "errorType" in payload and "stackTrace" in payload:
            return batch                                        # a function error: the whole batch
        ids = [f.get("itemIdentifier") for f in (payload or {}).get("batchItemFailures", [])] \
            if reports_items and isinstance(payload, dict) else []
        numbers = [int(i) for i in ids if str(i).isdigit()]
        if not numbers:
            return []
        return [r for r in batch if int(r.to_json()["dynamodb"]["SequenceNumber"]) >= min(numbers)]

    def iso(value) -> str:
        at = value if isinstance(value, dt.datetime) else dt.datetime.now(dt.timezone.utc)
        return at.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def dead_letter(backend, esm, batch: list, attempts: int) -> None:
        destination = ((esm.destination_config or {}).get("OnFailure") or {}).get("Destination", "")
        if ":sqs:" not in destination:
            return
        first, last = batch[0].to_json()["dynamodb"], batch[-1].to_json()["dynamodb"]
        body = {
            "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": esm.function_arn,
                               "condition": "RetryAttemptsExhausted", "approximateInvokeCount": attempts},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0", "timestamp": iso(None),
            "DDBStreamBatchInfo": {
                "shardId": "shardId-00000001541626099285-f35f62ef", "streamArn": esm.event_source_arn,
                "startSequenceNumber": first["SequenceNumber"], "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": iso(first.get("ApproximateCreationDateTime")),
                "approximateArrivalOfLastRecord": iso(last.get("ApproximateCreationDateTime")),
                "batchSize": len(batch)}}
        sqs_backends[backend.account_id][backend.region_name].send_message(
            destination.rsplit(":", 1)[1], json.dumps(body))

    def send(self, function_arn: str, items: list, source: str):
        esm = mapping(self, function_arn, source)
        retries = getattr(esm, "max_retry_attempts", None)
        if esm is None or retries is None:
            return original(self, function_arn, items, source)
        reports_items = "ReportBatchItemFailures" in (esm.function_response_types or [])
        batch, attempts, answer = list(items), 0, b""
        while batch:
            answer = original(self, function_arn, batch, source)
            attempts += 1
            batch = failed(answer, batch, reports_items)
            if batch and attempts > int(retries):
                dead_letter(self, esm, batch, attempts)
                break
        return answer or b"{}"    # the shard moves past the batch either way

    LambdaBackend.send_dynamodb_items = send


def deliver_streams_in_background() -> None:
    """moto calls a DynamoDB stream's function inside the write that made the record, so the
    write's caller waits for the consumer (here: a reviewer's POST for the whole dispatch). AWS
    delivers stream records asynchronously. ``countersign local`` applies this patch: one
    background thread delivers the batches in the order they were written (with the retries and
    failure destination above). The tests leave it off, so an injected fault lands within the
    request that caused it."""
    import queue
    import threading

    from moto.awslambda.models import LambdaBackend

    deliver, waiting = LambdaBackend.send_dynamodb_items, queue.SimpleQueue()

    def worker() -> None:
        while True:
            backend, args = waiting.get()
            try:
                deliver(backend, *args)
            except Exception:  # noqa: BLE001 (a delivery that blew up inside moto: AWS would move on too)
                import logging
                logging.getLogger("countersign.sandbox").exception("stream delivery failed")

    def send(self, function_arn: str, items: list, source: str):
        waiting.put((self, (function_arn, list(items), source)))
        return b"{}"     # the shard moves past the batch; the worker has it

    threading.Thread(target=worker, name="stream-delivery", daemon=True).start()
    LambdaBackend.send_dynamodb_items = send
