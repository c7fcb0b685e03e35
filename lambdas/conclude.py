"""Workflow steps after routing or a gate: AutoApprove, Decided, Expired, Unvetoed, Kept (the verdict),
Escalate (ask the next tier), Stage and ExecuteFirst (run the executor before a human looks)."""
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from countersign.gate import escalate
from countersign.runtime import build_deps
from countersign.verdicts import conclude, run_step

logger, metrics = Logger(), Metrics()
DEPS = build_deps("reviews", "executor")


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event, context):
    mode, state = event["mode"], event["case"]
    logger.set_correlation_id(state["review_id"])
    if mode == "escalate":
        return escalate(state, DEPS)
    if mode in ("stage", "execute_first"):
        return run_step(state, mode, DEPS)
    verdict = conclude(state, mode, DEPS)
    logger.info("verdict", extra={"outcome": verdict["outcome"], "route": verdict["route"]})
    metrics.add_metric(name=f"Outcome_{verdict['outcome']}", unit=MetricUnit.Count, value=1)
    return verdict
