"""Workflow step RequestReview (waitForTaskToken): store the pending review, mail the reviewers.

The task token arrives in the event and goes only to DynamoDB; it is never logged or returned.
"""
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from countersign.workflow.gate import RequestNotDelivered, request_review
from countersign.adapters.runtime import build_deps

logger, metrics = Logger(), Metrics()
DEPS = build_deps("reviews", "links", "notify", "events")


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(event, context):
    DEPS.once.register(context)
    logger.set_correlation_id(event["case"]["review_id"])
    try:
        result = request_review(event["case"], event["task_token"], event["route"], event["entered_at"], DEPS)
    except (BotoCoreError, ClientError) as exc:          # the workflow retries the step on this name
        raise RequestNotDelivered(f"{type(exc).__name__}: an AWS call failed past the SDK's retries") from exc
    logger.info("review requested", extra={"notified": result["notified"]})
    metrics.add_metric(name="ReviewsRequested", unit=MetricUnit.Count, value=1)
    return result
