"""AWS adapters behind the domain's ports: S3 (audit), DynamoDB (reviews), KMS (link MACs),
SNS (notifications), Step Functions (callbacks), SSM (policy). The calibrator's adapters are in
``adapters.calibrator``; EventBridge events and the dead-letter queue in ``adapters.messages``.

Clients are created by the caller and passed in, so a Lambda creates them once at init and tests
hand in clients bound to moto.
"""
from __future__ import annotations

import hashlib
import base64
import json
import time
from typing import Any

from countersign.workflow.case import Case
from countersign.review.reviews import DECIDED, DISPATCHED, DISPATCHING, EXPIRED, PENDING, Decision, Review, inbox_key


class S3AuditStore:
    """Audit records in an Object Lock bucket. Writes never overwrite (If-None-Match) and carry a
    SHA-256 checksum, which Object Lock requires."""

    def __init__(self, s3, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket

    def list_keys(self, prefix: str) -> list[str]:
        return [item.key for item in self.list_objects(prefix)]

    def list_objects(self, prefix: str) -> list[Any]:
        """Keys with their LastModified (``digests.Listed``), for the digest's interval."""
        from countersign.evidence.digests import Listed

        found: list[Any] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            found += [Listed(o["Key"], o["LastModified"]) for o in page.get("Contents", [])]
        return found

    def get(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def put_new(self, key: str, body: bytes) -> bool:
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*",
                               ContentType="application/json", ChecksumAlgorithm="SHA256", ChecksumSHA256=digest)
        except self.s3.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise
        return True


class DynamoReviewStore:
    """Single-table layout: the review item (sk REVIEW) plus one assignment item per reviewer
    (sk REVIEWER#id) that the ``by-reviewer`` index lists while the review is pending. Every
    state change is one conditional write on the review item. A decided review carries
    ``outbox = due`` until it is dispatched, so the sparse ``by-outbox`` index lists exactly the
    decisions the reconciler may have to finish."""

    def __init__(self, ddb, table: str) -> None:
        self.ddb, self.table = ddb, table

    @staticmethod
    def _pk(review_id: str) -> dict[str, str]:
        return {"S": f"REVIEW#{review_id}"}

    def _key(self, review_id: str) -> dict[str, Any]:
        return {"pk": self._pk(review_id), "sk": {"S": "REVIEW"}}

    def _update(self, review_id: str, update: str, condition: str, values: dict[str, Any],
                returns: str = "NONE") -> dict[str, Any] | None:
        """One conditional update of the review item; None when its condition does not hold."""
        try:
            got = self.ddb.update_item(TableName=self.table, Key=self._key(review_id), UpdateExpression=update,
                                       ConditionExpression=condition, ExpressionAttributeNames={"#s": "status"},
                                       ExpressionAttributeValues=values, ReturnValues=returns)
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return None
        return got.get("Attributes", {})

    def create(self, review: Review) -> None:
        pk, deadline = self._pk(review.review_id), str(review.deadline)
        item = {
            "pk": pk, "sk": {"S": "REVIEW"}, "review_id": {"S": review.review_id},
            "status": {"S": PENDING}, "case_json": {"S": json.dumps(review.case.to_state())},
            "reviewers": {"L": [{"S": r} for r in review.reviewers]},
            "deadline": {"N": deadline}, "expires_at": {"N": str(review.deadline + 30 * 86400)},
            "reason": {"S": review.reason}, "task_token": {"S": review.task_token},
            "execution_arn": {"S": review.case.execution.arn}, "mode": {"S": review.mode},
        }
        if review.remind_at:   # the by-reminder index lists it until the reminder is sent or it is decided
            item.update(reminder={"S": "due"}, remind_at={"N": str(review.remind_at)})
        try:   # the review item is the atomic point; a retried request step may re-open only its own
            self.ddb.put_item(
                TableName=self.table, Item=item,
                ConditionExpression="attribute_not_exists(pk) OR (#s = :p AND execution_arn = :e)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":p": {"S": PENDING}, ":e": item["execution_arn"]})
        except self.ddb.exceptions.ConditionalCheckFailedException:
            self._retarget(review)
            return
        for reviewer in review.reviewers:   # the by-reviewer index: who has what pending, in inbox order
            self.ddb.put_item(TableName=self.table, Item={
                "pk": pk, "sk": {"S": f"REVIEWER#{reviewer}"}, "reviewer": {"S": reviewer},
                "review_id": {"S": review.review_id}, "status": {"S": PENDING},
                "pending_until": {"S": inbox_key(review)}, "expires_at": item["expires_at"]})

    def _retarget(self, review: Review) -> None:
        """A retried request step found its review already decided: the decision stands, and it is
        queued again for the new attempt's task token (the old token's task is gone)."""
        done = self._update(
            review.review_id, "SET task_token = :t, #s = :d, outbox = :due REMOVE delivered_at, claimed_at",
            "execution_arn = :e AND #s IN (:d, :c, :x)",
            {":t": {"S": review.task_token}, ":d": {"S": DECIDED}, ":c": {"S": DISPATCHING},
             ":x": {"S": DISPATCHED}, ":due": {"S": "due"}, ":e": {"S": review.case.execution.arn}})
        if done is None:
            raise RuntimeError(f"review {review.review_id} already exists for another execution, or has expired")

    def get(self, review_id: str) -> Review | None:
        got = self.ddb.get_item(TableName=self.table, Key=self._key(review_id),
                                ConsistentRead=True).get("Item")
        return review_from_item(got) if got else None

    def write_vote(self, review: Review, votes: list[dict[str, Any]], decision: Decision | None, now: int) -> bool:
        values = {":p": {"S": PENDING}, ":now": {"N": str(now)}, ":v": {"N": str(review.version)},
                  ":one": {"N": "1"}, ":votes": {"L": [{"S": json.dumps(v)} for v in votes]}}
        update = "SET votes = :votes ADD version :one"
        if decision is not None:
            update = "SET votes = :votes, #s = :d, decision_json = :j, outbox = :due, decided_epoch = :at, " \
                     "decided_type = :type, decided_risk = :risk, decided_confidence = :conf " \
                     "ADD version :one REMOVE reminder"
            case = review.case   # the by-action-type index: precedents for the next reviewer of this type
            values.update({":d": {"S": DECIDED}, ":j": {"S": json.dumps(decision.to_dict())}, ":due": {"S": "due"},
                           # milliseconds, so decisions within one second keep their order in the index
                           ":at": {"N": f"{max(time.time(), now):.3f}"},
                           ":type": {"S": case.action["type"]}, ":risk": {"S": str(case.facts.get("risk", "medium"))},
                           ":conf": {"N": repr(case.confidence)}})
        return self._update(review.review_id, update,
                            "#s = :p AND deadline > :now AND (attribute_not_exists(version) OR version = :v)",
                            values) is not None

    def close_entries(self, review: Review) -> None:
        """Take a decided review out of its reviewers' inboxes (the by-reviewer index). The
        dispatcher does it, after the decision's write, so the reviewer's POST does not wait."""
        for reviewer in review.reviewers:
            self.ddb.update_item(
                TableName=self.table, Key={"pk": self._pk(review.review_id), "sk": {"S": f"REVIEWER#{reviewer}"}},
                UpdateExpression="SET #s = :d REMOVE pending_until",
                ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":d": {"S": DECIDED}})

    def expire(self, review_id: str) -> Review | None:
        self._update(review_id, "SET #s = :x REMOVE reminder", "#s = :p", {":x": {"S": EXPIRED}, ":p": {"S": PENDING}})
        return self.get(review_id)

    def claim_dispatch(self, review_id: str, now: int, stale_after: int) -> Review | str:
        """DECIDED → DISPATCHING, or take over a claim older than ``stale_after`` seconds (its
        dispatcher died). Returns the review as it was before the claim, or ``"held"`` (another
        delivery holds a fresh claim) or ``"done"`` (dispatched already, or nothing to dispatch)."""
        old = self._update(review_id, "SET #s = :claimed, claimed_at = :now",
                           "#s = :decided OR (#s = :claimed AND (attribute_not_exists(claimed_at) "
                           "OR claimed_at < :stale))",
                           {":claimed": {"S": DISPATCHING}, ":decided": {"S": DECIDED},
                            ":now": {"N": str(now)}, ":stale": {"N": str(now - stale_after)}}, returns="ALL_OLD")
        if old is not None:
            return review_from_item(old)
        current = self.get(review_id)
        return "held" if current is not None and current.status == DISPATCHING else "done"

    def release_claim(self, review_id: str, claimed_at: int) -> None:
        """Give up this delivery's claim (it met an AWS error), so a retry may take it at once. The
        item stays DISPATCHING (no new stream record) and in the outbox."""
        self._update(review_id, "REMOVE claimed_at", "#s = :c AND claimed_at = :at",
                     {":c": {"S": DISPATCHING}, ":at": {"N": str(claimed_at)}})

    def mark_dispatched(self, review_id: str, delivered_at: int | None, now: int) -> None:
        """DISPATCHING → DISPATCHED, recording when the workflow accepted the callback (or that its
        task had already closed), and leaving the outbox."""
        update = "SET #s = :x, dispatched_at = :now" + (", delivered_at = :at" if delivered_at else "") + \
                 " REMOVE outbox, claimed_at"
        values = {":x": {"S": DISPATCHED}, ":c": {"S": DISPATCHING}, ":now": {"N": str(now)}}
        if delivered_at:
            values[":at"] = {"N": str(delivered_at)}
        self._update(review_id, update, "#s = :c", values)

    def undispatched(self) -> list[str]:
        pages = self.ddb.get_paginator("query").paginate(
            TableName=self.table, IndexName="by-outbox", KeyConditionExpression="outbox = :due",
            ExpressionAttributeValues={":due": {"S": "due"}})
        return [item["pk"]["S"].split("#", 1)[1] for page in pages for item in page.get("Items", [])]

    def due_reminders(self, now: int) -> list[Review]:
        pages = self.ddb.get_paginator("query").paginate(
            TableName=self.table, IndexName="by-reminder",
            KeyConditionExpression="reminder = :due AND remind_at <= :now",
            ExpressionAttributeValues={":due": {"S": "due"}, ":now": {"N": str(now)}})
        ids = [item["pk"]["S"].split("#", 1)[1] for page in pages for item in page.get("Items", [])]
        return [r for r in (self.get(i) for i in ids) if r is not None]

    def claim_reminder(self, review_id: str) -> bool:
        return self._update(review_id, "REMOVE reminder", "attribute_exists(reminder) AND #s = :p",
                            {":p": {"S": PENDING}}) is not None

    def decided_of_type(self, action_type: str, limit: int) -> list[dict[str, Any]]:
        """The latest ``limit`` decisions on an action type, newest first: one query, one page."""
        got = self.ddb.query(TableName=self.table, IndexName="by-action-type", Limit=limit, ScanIndexForward=False,
                             KeyConditionExpression="decided_type = :t", ExpressionAttributeValues={":t": {"S": action_type}})
        return [{"review_id": i["review_id"]["S"], "decision": json.loads(i["decision_json"]["S"]),
                 "risk": i["decided_risk"]["S"], "confidence": float(i["decided_confidence"]["N"]),
                 "decided_epoch": float(i["decided_epoch"]["N"])} for i in got.get("Items", [])]

    TRACK = {"pk": {"S": "TRACK"}, "sk": {"S": "CURRENT"}}

    def track_records(self) -> dict[str, Any] | None:
        """The review page's track record (``precedents.track_document``), None before the first count."""
        got = self.ddb.get_item(TableName=self.table, Key=self.TRACK).get("Item")
        return json.loads(got["document"]["S"]) if got else None

    def put_track_records(self, document: dict[str, Any]) -> None:
        self.ddb.put_item(TableName=self.table, Item={**self.TRACK, "document": {"S": json.dumps(document)}})

    def pending_for(self, reviewer: str) -> list[str]:
        got = self.ddb.query(TableName=self.table, IndexName="by-reviewer",
                             KeyConditionExpression="reviewer = :r",
                             ExpressionAttributeValues={":r": {"S": reviewer}})
        return [i["review_id"]["S"] for i in got.get("Items", [])]

    def _open(self, reviewer: str, after: str, now: int) -> dict[str, Any]:
        """The by-reviewer query for this reviewer's reviews whose deadline is still ahead, after a cursor."""
        return {"TableName": self.table, "IndexName": "by-reviewer",
                "KeyConditionExpression": "reviewer = :r AND pending_until > :after",
                "ExpressionAttributeValues": {":r": {"S": reviewer}, ":after": {"S": max(after, f"{now:012d}#~")}}}

    def inbox_page(self, reviewer: str, after: str, now: int, size: int) -> tuple[list[tuple[str, str]], bool]:
        """Up to ``size`` (inbox key, review id) pairs in inbox order after ``after``, and whether more follow."""
        got = self.ddb.query(**self._open(reviewer, after, now), Limit=size + 1)
        rows = [(i["pending_until"]["S"], i["review_id"]["S"]) for i in got.get("Items", [])]
        return rows[:size], len(rows) > size

    def count_open(self, reviewer: str, now: int) -> int:
        pages = self.ddb.get_paginator("query").paginate(**self._open(reviewer, "", now), Select="COUNT")
        return sum(page["Count"] for page in pages)

    def queue_digest(self, reviewer: str, review: Review) -> None:
        """Hold a review for ``reviewer``'s next digest (an item under ``DIGEST#<reviewer>``)."""
        self.ddb.put_item(TableName=self.table, Item={
            "pk": {"S": f"DIGEST#{reviewer}"}, "sk": {"S": f"QUEUED#{review.review_id}"},
            "review_id": {"S": review.review_id}, "expires_at": {"N": str(review.deadline + 86400)}})

    def queued_digest(self, reviewer: str) -> list[str]:
        pages = self.ddb.get_paginator("query").paginate(
            TableName=self.table, ConsistentRead=True, KeyConditionExpression="pk = :p AND begins_with(sk, :q)",
            ExpressionAttributeValues={":p": {"S": f"DIGEST#{reviewer}"}, ":q": {"S": "QUEUED#"}})
        return [item["review_id"]["S"] for page in pages for item in page.get("Items", [])]

    def claim_digest(self, reviewer: str, window: int) -> bool:
        """Take ``reviewer``'s digest for interval ``window``; False if one was taken for it already."""
        try:
            self.ddb.update_item(
                TableName=self.table, Key={"pk": {"S": f"DIGEST#{reviewer}"}, "sk": {"S": "SENT"}},
                UpdateExpression="SET sent_window = :w",
                ConditionExpression="attribute_not_exists(sent_window) OR sent_window < :w",
                ExpressionAttributeValues={":w": {"N": str(window)}})
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def unqueue_digest(self, reviewer: str, review_ids: list[str]) -> None:
        for review_id in review_ids:
            self.ddb.delete_item(TableName=self.table, Key={"pk": {"S": f"DIGEST#{reviewer}"},
                                                            "sk": {"S": f"QUEUED#{review_id}"}})


class DynamoPseudonyms:
    """The pseudonym lookup (``countersign.evidence.identity``): one item per pseudonym in the reviews table,
    ``pk = PSEUDONYM#<pseudonym>``, ``sk = LOOKUP``, with no TTL. Deleting it (``forget``) is how an
    erasure request is met: the locked records keep the pseudonym, and nothing maps it back. The
    attribute is ``reviewer_id``, not ``reviewer``, so the item stays out of the by-reviewer index."""

    def __init__(self, ddb, table: str) -> None:
        self.ddb, self.table = ddb, table

    @staticmethod
    def _key(pseudonym: str) -> dict[str, Any]:
        return {"pk": {"S": f"PSEUDONYM#{pseudonym}"}, "sk": {"S": "LOOKUP"}}

    def remember(self, pseudonym: str, reviewer: str) -> None:
        """Written for every case that names the reviewer (idempotent), so a lookup deleted while
        the reviewer still acts is restored by their next case."""
        self.ddb.put_item(TableName=self.table, Item={**self._key(pseudonym), "reviewer_id": {"S": reviewer}})

    def resolve(self, pseudonym: str) -> str | None:
        got = self.ddb.get_item(TableName=self.table, Key=self._key(pseudonym), ConsistentRead=True).get("Item")
        return got["reviewer_id"]["S"] if got else None

    def forget(self, pseudonym: str) -> None:
        self.ddb.delete_item(TableName=self.table, Key=self._key(pseudonym))


def review_from_item(item: dict[str, Any]) -> Review:
    """Also used for DynamoDB stream images, which have the same typed shape."""
    decision = item.get("decision_json", {}).get("S")
    number = lambda name: int(item[name]["N"]) if name in item else None  # noqa: E731
    return Review(
        review_id=item["review_id"]["S"],
        status=item["status"]["S"],
        case=Case.from_state(json.loads(item["case_json"]["S"])),
        reviewers=tuple(r["S"] for r in item["reviewers"]["L"]),
        deadline=int(item["deadline"]["N"]),
        reason=item["reason"]["S"],
        task_token=item["task_token"]["S"],
        decision=Decision.from_dict(json.loads(decision)) if decision else None,
        mode=item.get("mode", {}).get("S", "review"),
        votes=tuple(json.loads(v["S"]) for v in item.get("votes", {}).get("L", [])),
        remind_at=number("remind_at"),
        version=number("version") or 0,
        claimed_at=number("claimed_at"),
        delivered_at=number("delivered_at"),
    )


def kms_mac(kms, key_id: str):
    def mac(message: bytes) -> bytes:
        return kms.generate_mac(KeyId=key_id, Message=message, MacAlgorithm="HMAC_SHA_256")["Mac"]
    return mac


def kms_digest_signer(kms, key_id: str):
    """Sign a SHA-256 digest as given (KMS ``Sign``, MessageType DIGEST): the DER ECDSA signature."""
    def sign(digest: bytes) -> bytes:
        return kms.sign(KeyId=key_id, Message=digest, MessageType="DIGEST",
                        SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    return sign


class SnsNotifier:
    def __init__(self, sns, topic_arn: str) -> None:
        self.sns, self.topic_arn = sns, topic_arn

    def send(self, reviewer: str, subject: str, body: str) -> None:
        self.sns.publish(TopicArn=self.topic_arn, Subject=subject, Message=body,
                         MessageAttributes={"reviewer": {"DataType": "String", "StringValue": reviewer}})


class StepFunctionsCallbacks:
    """Task-token callbacks. ``deliver`` returns False when the task is already closed: its timer
    fired (the timeout branch then follows the stored decision) or an earlier delivery landed."""

    CLOSED = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")

    def __init__(self, sfn) -> None:
        self.sfn = sfn

    def deliver(self, token: str, decision: Decision) -> bool:
        payload = json.dumps({"outcome": decision.outcome, "reviewer": decision.reviewer})   # a hint only:
        # the workflow reads the decision from the review item, never from the callback
        try:
            if decision.outcome == "rejected":
                self.sfn.send_task_failure(taskToken=token, error="Countersign.Rejected", cause=payload)
            else:
                self.sfn.send_task_success(taskToken=token, output=payload)
        except self.sfn.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] in self.CLOSED:
                return False
            raise
        return True
