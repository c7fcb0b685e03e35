"""DynamoDB stream consumer: audit each decided review, then call the waiting workflow back.

Partial batch failures are reported so only the failed records are retried: a record whose
review another delivery holds with a fresh claim is failed, never acknowledged, in case that
delivery dies (the reconciler finishes it either way). Stream images carry the task token, so
events are never logged.
"""
import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from countersign.workflow.outbox import dispatch, is_new_decision, stale_after
from countersign.adapters.runtime import build_deps

logger, metrics = Logger(), Metrics()
# a batch whose every record failed is reported like any other (item failures), not raised
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
DEPS = build_deps("reviews", "callbacks", "events")
STALE_AFTER = stale_after(int(os.environ["DISPATCHER_TIMEOUT_SECONDS"]))
METRIC = {"delivered": "DecisionsDelivered", "closed": "CallbacksToClosedTasks", "done": "DuplicateDeliveries",
          "scored": "CanariesScored"}


def handle(record) -> None:
    images = record.raw_event.get("dynamodb", {})
    if record.raw_event.get("eventName") != "MODIFY" or not is_new_decision(images.get("NewImage", {}),
                                                                             images.get("OldImage", {})):
        return
    review_id = images["NewImage"]["review_id"]["S"]
    logger.set_correlation_id(review_id)
    done = dispatch(review_id, DEPS, STALE_AFTER)         # ClaimHeld fails this record only
    logger.info("decision dispatched", extra={"result": done.result, "resumed": done.resumed})
    metrics.add_metric(name=METRIC[done.result], unit=MetricUnit.Count, value=1)
    if done.resumed:     # a stream retry found a stale claim: its dispatcher died mid-way
        metrics.add_metric(name="DispatchTakeovers", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event, context):
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
