"""The sandbox's demo executors: they agree with the example proposals, act once per idempotency
key, and ignore fields they do not read."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from countersign.rules.policy import build_document
from countersign.rules.proposal import check
from countersign.sandbox import executors
from countersign.sandbox.synth import context

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {p.name: json.loads(p.read_text()) for p in sorted((ROOT / "examples").glob("*.json"))}


def _policy() -> dict:
    config = context()
    policy = executors.with_demo_executors(config["policy"], "123456789012", "us-east-1")
    return build_document(policy, {r["id"] for r in config["reviewers"]} |
                          {f"role:{role}" for r in config["reviewers"] for role in r.get("roles", [])})


def test_each_example_has_a_demo_executor_that_carries_out_exactly_its_parameters():
    assert {doc["action"]["type"] for doc in EXAMPLES.values()} == set(executors.DEMOS)
    policy = _policy()
    for name, doc in EXAMPLES.items():
        check(doc, policy, [])                                   # the example is valid under the sample policy
        kind = doc["action"]["type"]
        assert policy["action_types"][kind]["executor"] == \
            f"arn:aws:lambda:us-east-1:123456789012:function:{executors.function_name(kind)}"
        result = executors.handler({"phase": "execute", "action": doc["action"], "idempotency_key": f"k-{name}"},
                                   SimpleNamespace(function_name=executors.function_name(kind)))
        shown = {k: v for k, v in result.items() if k not in ("status", "demo") and not k.endswith("_id")}
        parameters = doc["action"]["parameters"]
        assert all(parameters[k] == v for k, v in shown.items() if k in parameters), (name, result)
        assert result["demo"] is True and result["status"]


def test_a_repeated_invocation_returns_the_first_result_and_acts_once():
    action = EXAMPLES["refund.json"]["action"]
    event = {"phase": "execute", "action": action, "idempotency_key": "arn:x/rv-1/execute", "execution": "arn:x"}
    first = executors.handler(event, None)
    again = executors.handler({**event, "receipt": {"anything": "ignored"}}, None)   # an extra field changes nothing
    assert again == first and first["refund_id"].startswith("rf-") and first["amount"] == 420
    done = [r for r in executors.LEDGER.records() if r["idempotency_key"] == event["idempotency_key"]]
    assert len(done) == 1 and done[0]["phase"] == "execute" and done[0]["action"] == action


def test_requests_it_cannot_act_on_are_refused():
    import pytest

    for event in ({"phase": "execute", "idempotency_key": "k"}, {"phase": "explode", "action": {}, "idempotency_key": "k"},
                  {"phase": "execute", "action": {"type": "wire.transfer", "parameters": {}}, "idempotency_key": "k"}):
        with pytest.raises(ValueError):
            executors.handler(event, None)


def test_only_example_types_without_an_executor_get_one():
    policy = {"default": {}, "action_types": {"refund.issue": {}, "ticket.reply": {"executor": "arn:mine"},
                                              "other.type": {}}}
    got = executors.with_demo_executors(policy, "111122223333", "eu-west-1")["action_types"]
    assert got == {"refund.issue": {"executor": "arn:aws:lambda:eu-west-1:111122223333:function:"
                                                "countersign-sandbox-demo-refund-issue"},
                   "ticket.reply": {"executor": "arn:mine"}, "other.type": {}}
