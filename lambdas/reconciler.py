"""Scheduled (EventBridge) sweep: finish every decision left DECIDED or claimed by a dispatcher
that died, through the dispatcher's own code path. ``countersign redrive`` invokes it with
``{"redrive": true}``: the same sweep, then the dead letters it made moot are cleared."""
import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from countersign.workflow.outbox import reconcile, redrive, stale_after
from countersign.adapters.runtime import build_deps

logger, metrics = Logger(), Metrics()
DEPS = build_deps("reviews", "callbacks", "events", "dead_letters")
STALE_AFTER = stale_after(int(os.environ["DISPATCHER_TIMEOUT_SECONDS"]))


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event, context):
    sweep = redrive(DEPS, STALE_AFTER) if event.get("redrive") is True else reconcile(DEPS, STALE_AFTER).as_dict()
    logger.info("outbox reconciled", extra={k: v for k, v in sweep.items() if k != "reviews"})
    metrics.add_metric(name="DecisionsReconciled", unit=MetricUnit.Count, value=sweep["delivered"] + sweep["closed"])
    metrics.add_metric(name="DispatchTakeovers", unit=MetricUnit.Count, value=sweep["resumed"])
    return sweep
