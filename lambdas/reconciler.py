"""Scheduled (EventBridge) sweep, also run by ``countersign redrive``: finish every decision left
DECIDED or claimed by a dispatcher that died, through the dispatcher's own code path."""
import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from countersign.workflow.outbox import reconcile, stale_after
from countersign.adapters.runtime import build_deps

logger, metrics = Logger(), Metrics()
DEPS = build_deps("reviews", "callbacks", "events")
STALE_AFTER = stale_after(int(os.environ["DISPATCHER_TIMEOUT_SECONDS"]))


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event, context):
    sweep = reconcile(DEPS, STALE_AFTER).as_dict()
    logger.info("outbox reconciled", extra={k: v for k, v in sweep.items() if k != "reviews"})
    metrics.add_metric(name="DecisionsReconciled", unit=MetricUnit.Count, value=sweep["delivered"] + sweep["closed"])
    metrics.add_metric(name="DispatchTakeovers", unit=MetricUnit.Count, value=sweep["resumed"])
    return sweep
