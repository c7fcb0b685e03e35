"""Builders for the unit tests: a fixed sample context and policy, a case, a review, a fake MAC."""
from __future__ import annotations

import copy
import hashlib
import hmac
from typing import Any

from countersign.workflow.case import Case, Execution
from countersign.rules.policy import build_document, rules_for
from countersign.review.reviews import PENDING, Review
from tests.helpers import REFUND

# A fixed copy of the sample context in cdk.json, so these tests do not move when cdk.json does.
_STRING = {"type": "string"}
CONTEXT: dict[str, Any] = {
    "stage": "dev",
    "reviewers": [{"id": "alice", "email": "alice@example.com"}, {"id": "bob", "email": "bob@example.com"}],
    "policy": {
        "default": {"auto_approve_threshold": 0.9, "review_timeout_seconds": 172800},
        "action_types": {
            "refund.issue": {"auto_approve_threshold": 0.95, "parameters": {
                "type": "object", "additionalProperties": False, "required": ["customer_id", "amount", "currency"],
                "properties": {"customer_id": {"type": "string", "maxLength": 64},
                               "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": 10000},
                               "currency": {"enum": ["USD", "EUR", "GBP"]}}}},
            "deploy.production": {"auto_approve_threshold": 1, "parameters": {
                "type": "object", "required": ["service", "version"],
                "properties": {"service": _STRING, "version": _STRING}}},
            "email.bulk_send": {"parameters": {
                "type": "object", "required": ["segment", "template", "recipients"],
                "properties": {"segment": _STRING, "template": _STRING,
                               "recipients": {"type": "integer", "minimum": 1}}}},
            "access.grant": {"reviewers": ["alice"], "parameters": {
                "type": "object", "required": ["principal", "role", "duration_hours"],
                "properties": {"principal": _STRING, "role": _STRING,
                               "duration_hours": {"type": "integer", "minimum": 1, "maximum": 72}}}},
        },
    },
    "powertools_layer_version": 27,
}
REVIEWERS = ["alice", "bob"]
REVIEW_ID = "rv-0123456789abcdef0123"
KEY = b"unit-test-link-key"
DEADLINE = 1795514400  # 2026-11-24 10:00 UTC


def mac(message: bytes, key: bytes = KEY) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def policy_source() -> dict[str, Any]:
    return copy.deepcopy(CONTEXT["policy"])


def policy_document() -> dict[str, Any]:
    return build_document(policy_source(), set(REVIEWERS))


def refund(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(REFUND)
    doc.update(changes)
    return doc


def make_case(proposal: dict[str, Any] | None = None) -> Case:
    proposal = proposal or refund()
    rules = rules_for(policy_document(), proposal["action"]["type"], REVIEWERS)
    execution = Execution("arn:aws:states:us-east-1:123456789012:execution:gate:run-1", "run-1",
                          "2026-11-24T09:00:00.000Z")
    return Case(proposal, rules, execution, REVIEW_ID, route="human_review")


def make_review(case: Case | None = None, **changes: Any) -> Review:
    fields = dict(review_id=REVIEW_ID, status=PENDING, case=case or make_case(),
                  reviewers=("alice", "bob"), deadline=DEADLINE,
                  reason="confidence 0.72 is below the auto-approve threshold 0.95 for refund.issue",
                  task_token="TASK-TOKEN-SECRET")
    fields.update(changes)
    return Review(**fields)
