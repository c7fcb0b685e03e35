"""Workflow step Prepare: validate the proposal, attach its policy, audit its arrival."""
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from countersign.workflow.intake import prepare
from countersign.adapters.runtime import build_deps

logger, metrics = Logger(), Metrics()
DEPS = build_deps("policy", "kill_switch", "links", "registry", "autonomy")   # links: the KMS HMAC key also draws
# the spot checks


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(event, context):
    state = prepare(event["proposal"], event["execution"], DEPS)
    refused = "refusal" in state
    logger.append_keys(review_id=state.get("review_id"), execution=event["execution"]["Name"])
    logger.info("proposal refused" if refused else "proposal accepted")
    metrics.add_metric(name="ProposalsRefused" if refused else "ProposalsReceived", unit=MetricUnit.Count, value=1)
    return state
