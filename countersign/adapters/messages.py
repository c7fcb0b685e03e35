"""Messages out of the decision path: Countersign's events on EventBridge, and the dispatcher's
dead-letter queue (SQS)."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any


class EventBridgeEvents:
    """Countersign's events (``countersign.workflow.announce``) on one event bus. ``put`` never
    raises: a failure is logged and counted in the ``EventsNotPublished`` metric (one EMF record,
    flushed at once), so the step that announces goes on."""

    def __init__(self, events, bus: str) -> None:
        self.events, self.bus = events, bus

    def put(self, detail_type: str, detail: dict[str, Any], resources: list[str]) -> bool:
        from countersign.workflow.announce import SOURCE

        try:
            got = self.events.put_events(Entries=[{
                "Source": SOURCE, "DetailType": detail_type, "Detail": json.dumps(detail, sort_keys=True),
                "Resources": resources, "EventBusName": self.bus}])
            if got.get("FailedEntryCount"):
                raise RuntimeError(got["Entries"][0].get("ErrorCode", "failed entry"))
        except Exception as exc:  # noqa: BLE001 - the decision path must not depend on the bus
            _not_published(detail_type, detail["id"], exc)
            return False
        return True


def _not_published(detail_type: str, event_id: str, exc: Exception) -> None:
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    Logger(service="countersign").warning("event not published", extra={
        "detail_type": detail_type, "event_id": event_id, "error": type(exc).__name__})
    with single_metric(name="EventsNotPublished", unit=MetricUnit.Count, value=1, namespace="Countersign"):
        pass


class SqsDeadLetters:
    """The dispatcher's dead-letter queue. Each message is what Lambda sends when a stream batch
    failed every retry: the batch's metadata (shard, sequence numbers, arrival times), never its
    records. ``receive`` hides each message it returns for a minute; ``delete`` removes one and
    ``keep`` shows it again."""

    def __init__(self, sqs, url: str) -> None:
        self.sqs, self.url = sqs, url

    def receive(self) -> list[tuple[str, float | None]]:
        """Every message now visible, as (receipt handle, arrival of the batch's last record in
        epoch seconds, or None when the message does not say)."""
        found = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                           WaitTimeSeconds=1).get("Messages", [])
            if not got:
                return found
            found += [(m["ReceiptHandle"], _last_arrival(m.get("Body", ""))) for m in got]

    def delete(self, receipt: str) -> None:
        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=receipt)

    def keep(self, receipt: str) -> None:
        """Visible again at once: still counted by the queue's depth, and seen by the next redrive."""
        self.sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=receipt, VisibilityTimeout=0)


def _last_arrival(body: str) -> float | None:
    try:
        stamp = json.loads(body)["DDBStreamBatchInfo"]["approximateArrivalOfLastRecord"]
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
