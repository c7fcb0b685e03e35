"""An execution is bound to its proposal's content: Step Functions refuses a reused name with other
input, and the trail and the verdict carry the content hash a caller can check."""
from __future__ import annotations

import json

import pytest

from countersign.proposal import content_hash
from tests.helpers import proposal, unique


def test_step_functions_refuses_a_reused_key_with_other_content_and_the_verdict_names_its_content(stack):
    name = unique("bound")
    first = proposal(confidence=0.97)
    arn = stack.start(first, name)
    verdict = json.loads(stack.wait(arn)["output"])
    assert verdict["outcome"] == "auto_approved" and verdict["proposal_sha256"] == content_hash(first)
    received = next(r for r in stack.execution_records(arn) if r["event"] == "proposal_received")
    assert received["proposal_sha256"] == content_hash(first)
    critical = proposal(confidence=0.99, risk="critical")
    with pytest.raises(stack.sfn.exceptions.ExecutionAlreadyExists):     # a direct StartExecution too
        stack.start(critical, name)
    assert content_hash(critical) != content_hash(first)
    assert content_hash({**first, "idempotency_key": name}) == content_hash(first)   # the key is not content
