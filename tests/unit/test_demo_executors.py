"""The sandbox's demo executors: they agree with the example proposals, act once per idempotency
key, and act only on a valid decision receipt for exactly the action they are given."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from countersign.rules.policy import build_document
from countersign.rules.proposal import check
from countersign.sandbox import executors
from countersign.sandbox.synth import context
from tests.unit.test_receipts import PEM, issue, new_key

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(timezone.utc)      # receipts issued now, valid for 24 hours


@pytest.fixture(autouse=True)
def pinned(monkeypatch):
    """The receipt key the executors pin at init (the sandbox passes the stack's)."""
    monkeypatch.setattr(executors, "PINNED_KEY", PEM)
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
        event = {"phase": "execute", "action": doc["action"], "idempotency_key": f"k-{name}",
                 "receipt": issue(final_action=doc["action"], now=NOW)}
        result = executors.handler(event, SimpleNamespace(function_name=executors.function_name(kind)))
        shown = {k: v for k, v in result.items() if k not in ("status", "demo") and not k.endswith("_id")}
        parameters = doc["action"]["parameters"]
        assert all(parameters[k] == v for k, v in shown.items() if k in parameters), (name, result)
        assert result["demo"] is True and result["status"]


def test_a_repeated_invocation_returns_the_first_result_and_acts_once():
    action = EXAMPLES["refund.json"]["action"]
    event = {"phase": "execute", "action": action, "idempotency_key": "arn:x/rv-1/execute", "execution": "arn:x",
             "receipt": issue(final_action=action, now=NOW)}
    first = executors.handler(event, None)
    again = executors.handler(event, None)
    assert again == first and first["refund_id"].startswith("rf-") and first["amount"] == 420
    done = [r for r in executors.LEDGER.records() if r["idempotency_key"] == event["idempotency_key"]]
    assert len(done) == 1 and done[0]["phase"] == "execute" and done[0]["action"] == action


def test_requests_it_cannot_act_on_are_refused():
    for event in ({"phase": "execute", "idempotency_key": "k"}, {"phase": "explode", "action": {}, "idempotency_key": "k"},
                  {"phase": "execute", "action": {"type": "wire.transfer", "parameters": {}}, "idempotency_key": "k"}):
        with pytest.raises(executors.Refused):
            executors.handler(event, None)


def test_acting_needs_a_valid_receipt_for_exactly_this_action_and_undoing_needs_none():
    action = EXAMPLES["refund.json"]["action"]
    bigger = {**action, "parameters": {**action["parameters"], "amount": 4200}}
    base = {"phase": "execute", "action": action, "idempotency_key": "k-receipt"}
    for receipt, why in [(None, "no decision receipt"),
                         (issue(final_action=bigger, now=NOW), "the action does not match it"),
                         (issue(final_action=action, now=NOW, key=new_key()), "not valid"),
                         (issue(final_action=action), "expired"),                  # signed for 2026-11-24, 24 h
                         (issue(final_action=action, now=NOW)[:-4] + "AAAA", "not valid")]:
        for phase in ("execute", "promote"):
            with pytest.raises(executors.Refused, match=why):
                executors.accept({**base, "phase": phase, "receipt": receipt}, PEM)
    assert not [r for r in executors.LEDGER.records() if r["idempotency_key"] == "k-receipt"]
    for phase in ("stage", "discard", "compensate"):      # before any verdict, or undoing: no receipt
        assert executors.accept({**base, "phase": phase}, PEM)[0] == phase
    assert executors.accept({**base, "receipt": issue(final_action=action, now=NOW)}, PEM)[0] == "execute"


def test_only_example_types_without_an_executor_get_one():
    policy = {"default": {}, "action_types": {"refund.issue": {}, "ticket.reply": {"executor": "arn:mine"},
                                              "other.type": {}}}
    got = executors.with_demo_executors(policy, "111122223333", "eu-west-1")["action_types"]
    assert got == {"refund.issue": {"executor": "arn:aws:lambda:eu-west-1:111122223333:function:"
                                                "countersign-sandbox-demo-refund-issue"},
                   "ticket.reply": {"executor": "arn:mine"}, "other.type": {}}
