"""Scheduled (EventBridge, every ``digest_minutes`` in ``notify: digest`` mode): send each reviewer
one email listing the reviews held for them since their last digest."""
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from countersign.review.digest import send_digests
from countersign.adapters.runtime import build_deps

logger, metrics = Logger(), Metrics()
DEPS = build_deps("reviews", "links", "notify")


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event, context):
    sent = send_digests(DEPS)
    logger.info("digests sent", extra={"count": sent})
    metrics.add_metric(name="DigestEmailsSent", unit=MetricUnit.Count, value=sent)
    return {"sent": sent}
