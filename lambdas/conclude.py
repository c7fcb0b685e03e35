"""Workflow steps after routing or a gate: AutoApprove, Decided, Expired, Unvetoed (closing audit record
and verdict) and Escalate (ask the next tier)."""
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from countersign.gate import conclude, escalate
from countersign.runtime import build_deps

logger, metrics = Logger(), Metrics()
DEPS = build_deps("reviews")


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(event, context):
    logger.set_correlation_id(event["case"]["review_id"])
    if event["mode"] == "escalate":
        state = escalate(event["case"], DEPS)
        logger.info("escalated", extra={"exhausted": state["exhausted"]})
        return state
    verdict = conclude(event["case"], event["mode"], DEPS)
    logger.info("verdict", extra={"outcome": verdict["outcome"], "route": verdict["route"]})
    metrics.add_metric(name=f"Outcome_{verdict['outcome']}", unit=MetricUnit.Count, value=1)
    return verdict
