"""DynamoDB stream consumer: audit each decided review, then call the waiting workflow back; audit
each vote counted towards a quorum.

Partial batch failures are reported (``batchItemFailures``, the failed records' sequence numbers)
so only the failed records are retried (an AWS error; the delivery released its claim first). A
batch whose every record failed is reported the same way, never raised. A record whose review
another delivery holds with a fresh claim is acknowledged: that delivery finishes it, or, if it died, the reconciler takes the claim
over once it is stale (retrying the record could not, and would only end in the dead-letter
queue). Stream images carry the task token, so events are never logged.
"""
import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from countersign.adapters.aws import review_from_item
from countersign.adapters.runtime import build_deps
from countersign.workflow.outbox import ClaimHeld, dispatch, is_new_decision, is_new_vote, stale_after
from countersign.workflow.verdicts import record_votes

logger, metrics = Logger(), Metrics()
DEPS = build_deps("reviews", "callbacks", "events")
STALE_AFTER = stale_after(int(os.environ["DISPATCHER_TIMEOUT_SECONDS"]))
METRIC = {"delivered": "DecisionsDelivered", "closed": "CallbacksToClosedTasks", "done": "DuplicateDeliveries",
          "scored": "CanariesScored"}


def handle(record: dict) -> None:
    images = record.get("dynamodb", {})
    new, old = images.get("NewImage", {}), images.get("OldImage", {})
    if record.get("eventName") != "MODIFY":
        return
    if is_new_vote(new, old):        # a vote towards a quorum: audited here, not in the reviewer's POST
        record_votes(review_from_item(new), DEPS)
        metrics.add_metric(name="VotesRecorded", unit=MetricUnit.Count, value=1)
        return
    if not is_new_decision(new, old):
        return
    review_id = images["NewImage"]["review_id"]["S"]
    logger.set_correlation_id(review_id)
    try:
        done = dispatch(review_id, DEPS, STALE_AFTER)
    except ClaimHeld:
        logger.info("decision held by another delivery")
        metrics.add_metric(name="ClaimsHeld", unit=MetricUnit.Count, value=1)
        return
    logger.info("decision dispatched", extra={"result": done.result, "resumed": done.resumed})
    metrics.add_metric(name=METRIC[done.result], unit=MetricUnit.Count, value=1)
    if done.resumed:     # a stream retry found a stale claim: its dispatcher died mid-way
        metrics.add_metric(name="DispatchTakeovers", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event, context):
    failures = []
    for record in event.get("Records") or []:
        try:
            handle(record)
        except Exception as exc:     # retried by the stream; named by type only (images hold task tokens)
            sequence = record.get("dynamodb", {}).get("SequenceNumber", "")
            logger.warning("record failed; the stream retries it", extra={"error": type(exc).__name__,
                                                                          "sequence": sequence})
            failures.append({"itemIdentifier": sequence})
    return {"batchItemFailures": failures}
