"""DynamoDB stream consumer: audit each decided review, then call the waiting workflow back.

Partial batch failures are reported so only the failed records are retried; after the retries
the record goes to the DLQ. Stream images carry the task token, so events are never logged.
"""
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from countersign.aws import review_from_item
from countersign.gate import dispatch
from countersign.reviews import DECIDED, PENDING
from countersign.runtime import build_deps

logger, metrics = Logger(), Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
DEPS = build_deps("reviews", "callbacks")


def _is_new_decision(raw: dict) -> bool:
    new, old = raw["dynamodb"].get("NewImage", {}), raw["dynamodb"].get("OldImage", {})
    return (raw.get("eventName") == "MODIFY" and new.get("sk", {}).get("S") == "REVIEW"
            and new.get("status", {}).get("S") == DECIDED and old.get("status", {}).get("S") == PENDING)


def handle(record) -> None:
    if not _is_new_decision(record.raw_event):
        return
    review = review_from_item(record.raw_event["dynamodb"]["NewImage"])
    logger.set_correlation_id(review.review_id)
    result = dispatch(review, DEPS)
    logger.info("decision dispatched", extra={"result": result})
    metrics.add_metric(name="LateDecisions" if result == "late" else "DecisionsDelivered",
                       unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(event, context):
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
