"""AWS adapters behind the domain's ports: S3 (audit), DynamoDB (reviews), KMS (link MACs),
SNS (notifications), Step Functions (callbacks), SSM (policy).

Clients are created by the caller and passed in, so a Lambda creates them once at init and tests
hand in clients bound to moto.
"""
from __future__ import annotations

import hashlib
import base64
import json
from typing import Any

from .case import Case
from .reviews import DECIDED, DISPATCHING, PENDING, Decision, DecisionRefused, Review



class S3AuditStore:
    """Audit records in an Object Lock bucket. Writes never overwrite (If-None-Match) and carry a
    SHA-256 checksum, which Object Lock requires."""

    def __init__(self, s3, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

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
    state change is one conditional write on the review item."""

    def __init__(self, ddb, table: str) -> None:
        self.ddb, self.table = ddb, table

    @staticmethod
    def _pk(review_id: str) -> dict[str, str]:
        return {"S": f"REVIEW#{review_id}"}

    def _key(self, review_id: str) -> dict[str, Any]:
        return {"pk": self._pk(review_id), "sk": {"S": "REVIEW"}}

    def _refuse_not_pending(self, review_id: str) -> DecisionRefused:
        current = self.get(review_id)
        state = current.status.lower() if current else "gone"
        return DecisionRefused(409, f"this review is already {state}; the first decision stands")

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
            raise RuntimeError(f"review {review.review_id} already exists for another execution") from None
        for reviewer in review.reviewers:   # the by-reviewer index: who has what pending
            self.ddb.put_item(TableName=self.table, Item={
                "pk": pk, "sk": {"S": f"REVIEWER#{reviewer}"}, "reviewer": {"S": reviewer},
                "review_id": {"S": review.review_id}, "status": {"S": PENDING},
                "pending_until": {"S": deadline.zfill(12)}, "expires_at": item["expires_at"]})

    def get(self, review_id: str) -> Review | None:
        got = self.ddb.get_item(TableName=self.table, Key=self._key(review_id),
                                ConsistentRead=True).get("Item")
        return review_from_item(got) if got else None

    def decide(self, review_id: str, decision: Decision, now: int) -> None:
        """One conditional write on the review item picks the single winner; the assignment items
        (the by-reviewer index) follow. No transaction: a single-item condition is all it needs."""
        try:
            decided = self.ddb.update_item(
                TableName=self.table, Key=self._key(review_id),
                UpdateExpression="SET #s = :d, decision_json = :j REMOVE reminder",
                ConditionExpression="#s = :p AND deadline > :now",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":d": {"S": DECIDED}, ":p": {"S": PENDING},
                                           ":j": {"S": json.dumps(decision.to_dict())}, ":now": {"N": str(now)}},
                ReturnValues="ALL_NEW")["Attributes"]
        except self.ddb.exceptions.ConditionalCheckFailedException:
            raise self._refuse_not_pending(review_id) from None
        for reviewer in (r["S"] for r in decided["reviewers"]["L"]):
            self.ddb.update_item(
                TableName=self.table, Key={"pk": self._pk(review_id), "sk": {"S": f"REVIEWER#{reviewer}"}},
                UpdateExpression="SET #s = :d REMOVE pending_until",
                ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":d": {"S": DECIDED}})

    def approve(self, review_id: str, vote: dict[str, Any], now: int) -> list[dict[str, Any]]:
        reviewer = vote["reviewer"]
        try:
            got = self.ddb.update_item(
                TableName=self.table, Key=self._key(review_id),
                UpdateExpression="ADD approvers :r SET votes = list_append(if_not_exists(votes, :none), :v)",
                ConditionExpression="#s = :p AND deadline > :now AND "
                                    "(attribute_not_exists(approvers) OR NOT contains(approvers, :id))",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":r": {"SS": [reviewer]}, ":id": {"S": reviewer},
                                           ":v": {"L": [{"S": json.dumps(vote)}]}, ":none": {"L": []},
                                           ":p": {"S": PENDING}, ":now": {"N": str(now)}},
                ReturnValues="ALL_NEW")
        except self.ddb.exceptions.ConditionalCheckFailedException:
            current = self.get(review_id)
            if current and current.status == PENDING and any(v["reviewer"] == reviewer for v in current.votes):
                raise DecisionRefused(409, "you have already approved this action; it needs another reviewer's "
                                           "approval, and one reviewer never counts twice") from None
            raise self._refuse_not_pending(review_id) from None
        return [json.loads(v["S"]) for v in got["Attributes"]["votes"]["L"]]

    def claim_dispatch(self, review_id: str, now: int, stale_after: int = 120) -> str | None:
        """DECIDED → DISPATCHING, or take over a claim older than ``stale_after`` seconds (its
        dispatcher died); returns the status it had. A fresh claim held by another delivery, or
        a review already dispatched, is left alone (None)."""
        try:
            got = self.ddb.update_item(
                TableName=self.table, Key=self._key(review_id),
                UpdateExpression="SET #s = :claimed, claimed_at = :now",
                ConditionExpression="#s = :decided OR (#s = :claimed AND claimed_at < :stale)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":claimed": {"S": DISPATCHING}, ":decided": {"S": DECIDED},
                                           ":now": {"N": str(now)}, ":stale": {"N": str(now - stale_after)}},
                ReturnValues="ALL_OLD")
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return None
        return got["Attributes"]["status"]["S"]

    def due_reminders(self, now: int) -> list[Review]:
        pages = self.ddb.get_paginator("query").paginate(
            TableName=self.table, IndexName="by-reminder",
            KeyConditionExpression="reminder = :due AND remind_at <= :now",
            ExpressionAttributeValues={":due": {"S": "due"}, ":now": {"N": str(now)}})
        ids = [item["pk"]["S"].split("#", 1)[1] for page in pages for item in page.get("Items", [])]
        return [r for r in (self.get(i) for i in ids) if r is not None]

    def claim_reminder(self, review_id: str) -> bool:
        try:
            self.ddb.update_item(
                TableName=self.table, Key=self._key(review_id),
                UpdateExpression="REMOVE reminder", ConditionExpression="attribute_exists(reminder) AND #s = :p",
                ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":p": {"S": PENDING}})
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def transition(self, review_id: str, from_status: str, to_status: str) -> bool:
        try:
            self.ddb.update_item(
                TableName=self.table, Key=self._key(review_id),
                UpdateExpression="SET #s = :to", ConditionExpression="#s = :from",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":to": {"S": to_status}, ":from": {"S": from_status}})
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def pending_for(self, reviewer: str) -> list[str]:
        got = self.ddb.query(TableName=self.table, IndexName="by-reviewer",
                             KeyConditionExpression="reviewer = :r",
                             ExpressionAttributeValues={":r": {"S": reviewer}})
        return [i["review_id"]["S"] for i in got.get("Items", [])]


def review_from_item(item: dict[str, Any]) -> Review:
    """Also used for DynamoDB stream images, which have the same typed shape."""
    decision = item.get("decision_json", {}).get("S")
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
        remind_at=int(item["remind_at"]["N"]) if "remind_at" in item else None,
    )


def kms_mac(kms, key_id: str):
    def mac(message: bytes) -> bytes:
        return kms.generate_mac(KeyId=key_id, Message=message, MacAlgorithm="HMAC_SHA_256")["Mac"]
    return mac


class SnsNotifier:
    def __init__(self, sns, topic_arn: str) -> None:
        self.sns, self.topic_arn = sns, topic_arn

    def send(self, reviewer: str, subject: str, body: str) -> None:
        self.sns.publish(TopicArn=self.topic_arn, Subject=subject, Message=body,
                         MessageAttributes={"reviewer": {"DataType": "String", "StringValue": reviewer}})


class LambdaExecutor:
    """Runs an action type's executor (or compensation) Lambda synchronously."""

    def __init__(self, lambda_client) -> None:
        self.client = lambda_client

    def run(self, function_arn: str, payload: dict[str, Any]) -> Any:
        from .verdicts import ExecutorFailed

        try:
            got = self.client.invoke(FunctionName=function_arn, Payload=json.dumps(payload).encode())
        except self.client.exceptions.ClientError as exc:
            raise ExecutorFailed(exc.response["Error"]["Code"], str(exc)) from None
        body = json.loads(got["Payload"].read() or b"null")
        if got.get("FunctionError"):
            raise ExecutorFailed((body or {}).get("errorType", "Error"), (body or {}).get("errorMessage", ""))
        return body


class StepFunctionsCallbacks:
    """Task-token callbacks. ``deliver`` returns False when the task is gone (timed out)."""

    LATE = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")

    def __init__(self, sfn) -> None:
        self.sfn = sfn

    def deliver(self, token: str, decision: Decision) -> bool:
        payload = json.dumps({"outcome": decision.outcome, "reviewer": decision.reviewer})
        try:
            if decision.outcome == "rejected":
                self.sfn.send_task_failure(taskToken=token, error="Countersign.Rejected", cause=payload)
            else:
                self.sfn.send_task_success(taskToken=token, output=payload)
        except self.sfn.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] in self.LATE:
                return False
            raise
        return True
