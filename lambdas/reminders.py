"""Scheduled (EventBridge) sweep: remind the reviewers of pending reviews whose deadline is near,
and report what operations watch (pending reviews, the oldest one's age, the kill switch)."""
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from countersign.workflow.gate import send_reminders
from countersign.workflow.watch import watch
from countersign.adapters.runtime import build_deps

logger, metrics = Logger(), Metrics()
DEPS = build_deps("reviews", "links", "notify", "kill_switch")


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event, context):
    DEPS.once.register(context)
    sent = send_reminders(DEPS)
    seen = watch(DEPS)
    logger.info("reminders sent", extra={"count": sent, "pending": seen.pending})
    metrics.add_metric(name="RemindersSent", unit=MetricUnit.Count, value=sent)
    metrics.add_metric(name="PendingReviews", unit=MetricUnit.Count, value=seen.pending)
    metrics.add_metric(name="OldestPendingReviewSeconds", unit=MetricUnit.Seconds, value=seen.oldest_seconds)
    metrics.add_metric(name="KillSwitchEngaged", unit=MetricUnit.Count, value=int(seen.kill_switch_engaged))
    return {"reminded": sent, "pending": seen.pending, "oldest_seconds": seen.oldest_seconds,
            "kill_switch_engaged": seen.kill_switch_engaged}
