"""Scheduled (EventBridge), also run by ``countersign calibrate``: calibrate every action type's
thresholds on the correction history in the audit trail; tighten and demote at once, propose
loosenings through the gate (``policy.autonomy``); and store the review page's track record,
counted from the same history."""
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from countersign.adapters.runtime import build_deps
from countersign.evidence import history
from countersign.evidence.audit import read_prefix
from countersign.review import precedents
from countersign.workflow.calibrator import now_iso, run, summary

logger, metrics = Logger(), Metrics()
DEPS = build_deps("reviews", "notify", "policy", "autonomy", "gate")


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event, context):
    event = event if isinstance(event, dict) else {}
    DEPS.once.register(context)
    decided = history.decisions(read_prefix(DEPS.audit, "executions/"))
    rows = history.calibration_rows(decided)
    standings = run(DEPS, rows, only=event.get("action_type"), act=not event.get("dry_run", False))
    # the review page's track record, counted from the same history (a dry run changes no threshold)
    DEPS.reviews.put_track_records(precedents.track_document(decided, now_iso()))
    for s in standings:
        if s.action != "keep" or s.propose:
            logger.info("calibration", extra={"action_type": s.action_type, "action": s.action, "proposed": s.propose})
    for kind in ("demote", "tighten"):
        metrics.add_metric(name=f"Autonomy_{kind}", unit=MetricUnit.Count,
                           value=sum(s.action == kind for s in standings))
    metrics.add_metric(name="Autonomy_proposed", unit=MetricUnit.Count, value=sum(s.propose for s in standings))
    return {"decisions": len(rows), "standings": [summary(s) for s in standings]}
