"""Canaries, the pure parts: the policy fields, the keyed draw and the definition pick, the variant
of a case, the words a reviewer reads when it is revealed."""
from __future__ import annotations

import base64
import dataclasses
from collections import Counter

import pytest

from countersign.adapters.deps import Deps
from countersign.review.reviews import DECIDED, Decision
from countersign.rules.policy import build_document, rules_for
from countersign.rules.routing import canary_draw, canary_pick, spot_check
from countersign.rules.validation import SchemaError, validate_audit_record
from countersign.workflow.canary import reveal, variant
from countersign.workflow.verdicts import record_decision
from tests.unit.builders import REVIEWERS, make_case, make_review, mac, policy_source
from tests.unit.test_audit import FakeStore

DEFINITIONS = [{"breaks": "a refund above $1,000 needs a manager", "parameters": {"amount": 4200}},
               {"breaks": "refunds are paid in the charge's currency", "parameters": {"currency": "GBP"}},
               {"breaks": "the customer must exist", "parameters": {"customer_id": "0"}}]
STARTED = "2026-11-29T10:00:00.000Z"


def with_canaries(rate: float, canaries=DEFINITIONS, where: str = "refund.issue"):
    source = policy_source()
    scope = source["default"] if where == "default" else source["action_types"][where]
    scope.update(canary_rate=rate, **({"canaries": canaries} if canaries is not None else {}))
    return build_document(source, set(REVIEWERS))


def rules(rate: float, action_type: str = "refund.issue", **kw):
    return rules_for(with_canaries(rate, **kw), action_type, REVIEWERS)


def arn(i: int) -> str:
    return f"arn:aws:states:eu-west-1:111122223333:execution:gate:run-{i}"


def test_canary_fields_default_to_none_and_are_inherited_from_default():
    plain = rules_for(build_document(policy_source(), set(REVIEWERS)), "refund.issue", REVIEWERS)
    assert plain.canary_rate == 0 and plain.canaries == ()
    inherited = rules(0.25, action_type="email.bulk_send", where="default")
    assert inherited.canary_rate == 0.25 and list(inherited.canaries) == DEFINITIONS
    assert rules_for(with_canaries(0.25, where="default"), "access.grant", REVIEWERS).snapshot()["canaries"] == DEFINITIONS


def test_synth_refuses_a_canary_rate_without_definitions():
    with pytest.raises(SchemaError) as refused:
        with_canaries(0.1, canaries=None)
    assert refused.value.message == "policy refund.issue: canary_rate needs at least one canary definition in canaries"
    assert refused.value.path == "$.action_types.refund.issue.canaries"
    with pytest.raises(SchemaError, match="canary_rate needs at least one canary definition"):
        with_canaries(0.1, canaries=[], where="default")


@pytest.mark.parametrize("canaries, rate, problem", [
    ([{"breaks": "x" * 201, "parameters": {"amount": 1}}], 0.1, "breaks"),
    ([{"breaks": "too big", "parameters": {}}], 0.1, "parameters"),
    ([{"breaks": "no parameters"}], 0.1, "parameters"),
    ([{"breaks": "extra", "parameters": {"a": 1}, "run": True}], 0.1, "run"),
    (DEFINITIONS, 1.5, "canary_rate"),
])
def test_a_malformed_canary_definition_fails_synth_with_its_path(canaries, rate, problem):
    with pytest.raises(SchemaError) as refused:
        with_canaries(rate, canaries=canaries)
    assert problem in refused.value.message + refused.value.path


def test_no_canary_is_drawn_at_rate_zero_and_one_always_at_rate_one():
    never, always = rules(0), rules(1.0)
    assert all(canary_draw(mac, arn(i), STARTED, never) is None for i in range(200))
    assert all(canary_draw(mac, arn(i), STARTED, always) is not None for i in range(200))


def test_the_draw_sends_canaries_at_the_policy_rate_and_picks_every_definition_evenly():
    fifth = rules(0.2)
    drawn = [canary_draw(mac, arn(i), STARTED, fifth) for i in range(20_000)]
    sent = [d for d in drawn if d]
    sigma = (0.2 * 0.8 / len(drawn)) ** 0.5
    assert abs(len(sent) / len(drawn) - 0.2) < 4 * sigma               # a fixed stream: never flakes
    picks = Counter(d["index"] for d in sent)
    assert set(picks) == {0, 1, 2} and max(picks.values()) - min(picks.values()) < 0.1 * len(sent)
    first = sum(d["canary_first"] for d in sent) / len(sent)
    assert 0.45 < first < 0.55                                          # neither email is always the second


def test_the_draw_is_keyed_reproducible_from_its_mac_and_separate_from_the_spot_check():
    one = canary_draw(mac, arn(1), STARTED, rules(1.0))
    assert one == canary_draw(mac, arn(1), STARTED, rules(1.0))
    assert one["message"] == f"countersign-canary|v1|{arn(1)}|{STARTED}|{rules(1.0).version}"
    raw = base64.b64decode(one["mac"])
    assert raw == mac(one["message"].encode())                          # what an auditor re-checks
    assert {k: one[k] for k in ("index", "canary_first")} == canary_pick(raw, len(DEFINITIONS))
    spot = spot_check(mac, arn(1), STARTED, rules(1.0).version)
    assert spot["message"] != one["message"] and spot["mac"] != one["mac"]
    other_key = canary_draw(lambda m: mac(m, b"another key"), arn(1), STARTED, rules(1.0))
    assert other_key["mac"] != one["mac"]                               # the proposer cannot compute it


def test_the_pick_uses_its_own_bytes_of_the_mac():
    assert canary_pick(bytes(8) + (7).to_bytes(8, "big") + b"\x01" + bytes(15), 3) == {"index": 1, "canary_first": True}
    assert canary_pick(bytes(32), 3) == {"index": 0, "canary_first": False}


def test_a_variant_lays_the_definition_over_the_real_parameters_in_its_own_stream():
    case = dataclasses.replace(make_case(), rules=rules(1.0))
    canary = variant(case, DEFINITIONS[0])
    assert canary.action["parameters"] == {**case.action["parameters"], "amount": 4200}
    assert case.action["parameters"]["amount"] == 420                   # the real case is untouched
    assert canary.review_id != case.review_id and canary.review_id.startswith("rv-")
    assert canary.execution.audit_stream == f"canaries/2026/11/24/{canary.review_id}"
    assert canary.canary == {"breaks": DEFINITIONS[0]["breaks"], "source_execution": case.execution.arn}
    restored = type(case).from_state(canary.to_state())                 # as the review item keeps it
    assert (restored.canary, restored.execution, restored.proposal) == (canary.canary, canary.execution, canary.proposal)
    assert canary.record({})["canary"] == canary.canary and "canary" not in case.record({})


def test_the_decision_record_of_a_canary_is_scored_and_must_say_whether_it_was_caught():
    from tests.unit.test_audit_schema import case as sample_case, decided

    canary = variant(sample_case(), DEFINITIONS[0])
    decision = Decision("rejected", "alice", "4200 is not what was charged", None, [], "2026-11-24T09:30:00Z")
    review = make_review(canary, review_id=canary.review_id, status=DECIDED,
                         decision=dataclasses.replace(decision, votes=[decision.vote()]))
    record = record_decision(review, Deps(audit=FakeStore()))          # as the dispatcher writes it
    validate_audit_record(record)
    assert record["caught"] is True and record["stream"] == canary.execution.audit_stream
    assert record["canary"] == {"breaks": DEFINITIONS[0]["breaks"], "source_execution": canary.execution.arn}
    with pytest.raises(SchemaError):
        validate_audit_record({k: v for k, v in record.items() if k != "caught"})
    with pytest.raises(SchemaError):
        validate_audit_record({**decided(), "caught": True})            # only a canary is scored


@pytest.mark.parametrize("outcome, verdict", [("approved", "you missed it"), ("modified", "you caught it"),
                                              ("rejected", "you caught it")])
def test_the_reveal_says_what_rule_it_broke_and_whether_it_was_caught(outcome, verdict):
    canary = variant(make_case(), DEFINITIONS[0])
    heading, message = reveal(canary, outcome)
    assert heading == f"This was a canary: {verdict}"
    assert "The rule it broke: a refund above $1,000 needs a manager." in message
    assert f"You {outcome} it, so {verdict}." in message and "never executed" in message
