"""Workflow steps after routing or a gate: settle what happens (AutoApprove, Decided, and the
timeout branches Unvetoed, Kept, Expired, Escalate, each following a decision stored in time),
then Conclude (audit the executor's result and the verdict, return the verdict). A verdict that
lets an action proceed carries a receipt signed here (KMS Sign on the receipt key)."""
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from countersign.adapters.runtime import build_deps
from countersign.workflow.verdicts import conclude, settle, time_to_decision

logger, metrics = Logger(), Metrics()
# the stop button reaches every closing step; the policy and its adjustments, for an approved policy.autonomy
# change; the receipt key, for a verdict that lets an action proceed
DEPS = build_deps("reviews", "kill_switch", "events", "policy", "autonomy", "receipts")


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event, context):
    mode, state = event["mode"], event["case"]
    logger.set_correlation_id(state["review_id"])
    if mode != "conclude":
        return settle(state, mode, DEPS)
    verdict = conclude(state, DEPS)
    logger.info("verdict", extra={"outcome": verdict["outcome"], "route": verdict["route"]})
    metrics.add_metric(name=f"Outcome_{verdict['outcome']}", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=f"Route_{verdict['route']}", unit=MetricUnit.Count, value=1)
    waited = time_to_decision(state, verdict)
    if waited is not None:
        metrics.add_metric(name="TimeToDecisionSeconds", unit=MetricUnit.Seconds, value=waited)
    return verdict
