"""Scheduled (EventBridge): the reviewer vigilance watch. Reads the decisions of the executions
started in the last ``VIGILANCE_WINDOW_DAYS`` days from the audit trail and emits metrics for
the alarms: how many reviewer × action type lines carry each flag, how many canaries were missed,
and the same per reviewer and action type. Writes nothing else."""
import os
from datetime import datetime, timezone

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from countersign.adapters.aws import S3AuditStore
from countersign.evidence import history, trail, vigilance
from countersign.evidence.compliance.figures import records_of

logger, metrics = Logger(), Metrics()
STORE = S3AuditStore(boto3.client("s3"), os.environ["AUDIT_BUCKET"])
WINDOW_DAYS = int(os.environ.get("VIGILANCE_WINDOW_DAYS", "30"))


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event, context):
    today = datetime.now(timezone.utc).date()
    lines = vigilance.watch(history.decisions(records_of(trail.recent(STORE, WINDOW_DAYS, today))))
    for line in lines:        # per reviewer (as recorded: id or pseudonym) and action type
        for name, value in (("RubberStamp", int(line.rubber_stamp)), ("FastDwell", int(line.fast)),
                            ("MissedCanaries", line.missed)):
            _per_reviewer(line, name, value)
    flagged = {flag: sum(getattr(line, flag) for line in lines) for flag in vigilance.METRICS}
    for flag, name in vigilance.METRICS.items():        # the alarms watch these (no reviewer dimension)
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=flagged[flag])
    attention = [line.to_dict() for line in vigilance.attention(lines)]
    logger.info("reviewer vigilance", extra={"lines": len(lines), "flagged": flagged, "attention": attention})
    return {"window_days": WINDOW_DAYS, "lines": len(lines), "flagged": flagged, "attention": attention}


def _per_reviewer(line, name: str, value: int) -> None:
    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=metrics.namespace) as metric:
        metric.add_dimension(name="Reviewer", value=line.reviewer)
        metric.add_dimension(name="ActionType", value=line.action_type)
