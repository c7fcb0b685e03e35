"""Workflow steps AutoApprove, Decided and Expired: write the closing audit record, return the verdict."""
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from countersign.gate import conclude
from countersign.runtime import build_deps

logger, tracer, metrics = Logger(), Tracer(), Metrics()
DEPS = build_deps("reviews")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event, context):
    logger.set_correlation_id(event["case"]["review_id"])
    verdict = conclude(event["case"], event["mode"], DEPS)
    logger.info("verdict", extra={"outcome": verdict["outcome"], "route": verdict["route"]})
    metrics.add_metric(name=f"Outcome_{verdict['outcome']}", unit=MetricUnit.Count, value=1)
    return verdict
