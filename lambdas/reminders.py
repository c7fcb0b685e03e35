"""Scheduled (EventBridge) sweep: remind the reviewers of pending reviews whose deadline is near."""
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from countersign.workflow.gate import send_reminders
from countersign.adapters.runtime import build_deps

logger, metrics = Logger(), Metrics()
DEPS = build_deps("reviews", "links", "notify")


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event, context):
    DEPS.once.register(context)
    sent = send_reminders(DEPS)
    logger.info("reminders sent", extra={"count": sent})
    metrics.add_metric(name="RemindersSent", unit=MetricUnit.Count, value=sent)
    return {"reminded": sent}
