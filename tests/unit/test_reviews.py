"""Reviewer decisions: what a submitted form becomes, and every way it is refused with a 400."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from countersign.review.links import Grant, LinkRefused
from countersign.review.reviews import Decision, DecisionRefused, authorise, diff_values, parse_decision, resolve_proposers
from tests.unit.builders import DEADLINE, REVIEW_ID, make_review

AT = "2026-11-24T09:30:00Z"
GRANT = Grant(REVIEW_ID, "bob", DEADLINE)
PARAMS = {"customer_id": "1182", "amount": 420, "currency": "USD"}


def decide(**form: str) -> Decision:
    return parse_decision(form, GRANT, make_review(), AT)


def refusal(**form: str) -> str:
    with pytest.raises(DecisionRefused) as caught:
        decide(**form)
    assert caught.value.status == 400
    return caught.value.message


def test_approve_needs_no_rationale_and_keeps_the_action():
    review = make_review()
    decision = parse_decision({"decision": "approve"}, GRANT, review, AT)
    assert decision == Decision("approved", "bob", "", review.case.action, [], AT)


def test_rationale_is_trimmed_and_recorded():
    assert decide(decision=" approve ", rationale="  matches order 5531 \n").rationale == "matches order 5531"


@pytest.mark.parametrize("choice", ["modify", "reject"])
@pytest.mark.parametrize("rationale", ["", "   \n"])
def test_modify_and_reject_need_a_rationale(choice, rationale):
    assert refusal(decision=choice, rationale=rationale, parameters="{}") == f"a rationale is required to {choice}"


def test_overlong_rationale_is_refused():
    assert refusal(decision="approve", rationale="x" * 4001) == "the rationale is limited to 4000 characters"


@pytest.mark.parametrize("choice", ["", "APPROVE", "delete", "approved"])
def test_unknown_choice_is_refused(choice):
    assert refusal(decision=choice) == "choose approve, modify or reject"


def test_missing_choice_is_refused():
    assert refusal(rationale="why not") == "choose approve, modify or reject"


def test_modify_with_invalid_json_says_where():
    message = refusal(decision="modify", rationale="r", parameters='{"amount": 400,}')
    assert message.startswith("the modified parameters are not valid JSON: ")
    assert "(line 1, column 16)" in message


def test_modify_without_parameters_is_refused():
    assert refusal(decision="modify", rationale="r").startswith("the modified parameters are not valid JSON")


@pytest.mark.parametrize("text", ["[1, 2]", '"420"', "420", "null"])
def test_modify_with_a_non_object_is_refused(text):
    assert refusal(decision="modify", rationale="r", parameters=text) == "the modified parameters must be a JSON object"


def test_modify_with_huge_parameters_is_refused():
    text = json.dumps({**PARAMS, "customer_id": "x" * 70000})
    assert refusal(decision="modify", rationale="r", parameters=text) == "the modified parameters are too large"


@pytest.mark.parametrize("change,fragment", [
    ({"amount": 20000}, "amount"), ({"currency": "JPY"}, "currency"), ({"note": "x"}, "note"),
])
def test_modify_breaking_the_schema_is_refused(change, fragment):
    message = refusal(decision="modify", rationale="r", parameters=json.dumps({**PARAMS, **change}))
    assert message.startswith("the modified parameters break the action's schema: ") and fragment in message


def test_modify_without_a_change_is_refused():
    reformatted = json.dumps(dict(reversed(list(PARAMS.items()))), indent=4)
    assert refusal(decision="modify", rationale="r", parameters=reformatted) == (
        "modify needs at least one changed parameter; use approve instead")


def test_modify_returns_the_new_parameters_and_a_diff():
    review = make_review()
    decision = parse_decision({"decision": "modify", "rationale": "partial refund", "reason": "wrong_parameters",
                               "parameters": json.dumps({**PARAMS, "amount": 400})}, GRANT, review, AT)
    assert decision.outcome == "modified" and decision.reviewer == "bob" and decision.reason == "wrong_parameters"
    assert decision.final_action == {**review.case.action, "parameters": {**PARAMS, "amount": 400}}
    assert decision.diff == [{"path": "$.parameters.amount", "before": 420, "after": 400}]
    assert review.case.action["parameters"] == PARAMS  # the proposal itself is untouched


def test_reject_has_no_final_action():
    decision = decide(decision="reject", rationale="not a duplicate", reason="wrong_action")
    assert (decision.outcome, decision.final_action, decision.diff, decision.reason) == ("rejected", None, [],
                                                                                          "wrong_action")


def test_decision_round_trips_through_a_dict():
    decision = decide(decision="modify", rationale="r", parameters=json.dumps({**PARAMS, "currency": "EUR"}),
                      reason="other")
    assert Decision.from_dict(json.loads(json.dumps(decision.to_dict()))) == decision


@pytest.mark.parametrize("choice", ["modify", "reject"])
@pytest.mark.parametrize("reason", [None, "", "Wrong_Action", "wrong action", "<b>other</b>", "approved"])
def test_modify_and_reject_need_a_reason_category_the_policy_offers(choice, reason):
    form = {"decision": choice, "rationale": "r", "parameters": json.dumps({**PARAMS, "amount": 1})}
    if reason is not None:
        form["reason"] = reason
    assert refusal(**form) == (f"choose a reason to {choice} from the list: wrong parameters, wrong action, "
                               "insufficient evidence, policy, other")


def test_an_approval_records_no_reason_whatever_the_form_says():
    assert decide(decision="approve", reason="policy").reason is None


def test_an_action_type_offers_its_own_reasons_and_only_those():
    from countersign.rules.policy import build_document, rules_for
    from tests.unit.builders import REVIEWERS, make_case, policy_source

    source = policy_source()
    source["action_types"]["refund.issue"]["override_reasons"] = ["duplicate", "fraud_suspected"]
    document = build_document(source, set(REVIEWERS))
    case = make_case()
    review = make_review(replace(case, rules=rules_for(document, "refund.issue", list(REVIEWERS))))
    form = {"decision": "reject", "rationale": "r"}
    assert parse_decision({**form, "reason": "fraud_suspected"}, GRANT, review, AT).reason == "fraud_suspected"
    with pytest.raises(DecisionRefused) as caught:
        parse_decision({**form, "reason": "wrong_action"}, GRANT, review, AT)
    assert caught.value.message == "choose a reason to reject from the list: duplicate, fraud suspected"
    other = rules_for(document, next(t for t in document["action_types"] if t != "refund.issue"), list(REVIEWERS))
    assert other.override_reasons == ("wrong_parameters", "wrong_action", "insufficient_evidence", "policy", "other")


def test_diff_lists_every_changed_leaf_with_its_path():
    before = {"a": 1, "b": {"c": [1, 2], "d": "x"}, "gone": True}
    after = {"a": 1, "b": {"c": [2, 1], "d": "y"}, "new": 5}
    assert diff_values(before, after) == [
        {"path": "$.b.c", "before": [1, 2], "after": [2, 1]},
        {"path": "$.b.d", "before": "x", "after": "y"},
        {"path": "$.gone", "before": True, "after": None},
        {"path": "$.new", "before": None, "after": 5},
    ]
    assert diff_values({"a": {"b": 1}}, {"a": {"b": 1}}) == []


def test_authorise_admits_an_assigned_reviewer():
    review = make_review()
    assert authorise(review, GRANT) is review


@pytest.mark.parametrize("review", [make_review(reviewers=("alice",)), None])
def test_authorise_refuses_anyone_else(review):
    with pytest.raises(LinkRefused, match="this link does not grant access to that review"):
        authorise(review, GRANT)


@pytest.mark.parametrize("requested_by", ["alice", "Alice", " alice ", "alice@example.com", "ALICE@Example.COM",
                                          "user:alice", "reviewer:alice", "user:reviewer:alice", "user: Alice"])
def test_a_proposer_is_resolved_to_their_reviewer_id_however_it_is_written(requested_by):
    directory = {"alice": "alice@example.com", "bob": "bob@example.com"}
    assert resolve_proposers(requested_by, directory) == ["alice"]


@pytest.mark.parametrize("requested_by", [None, "", "pipeline:billing#512", "alice2", "mallory@example.com"])
def test_a_requester_who_is_no_reviewer_resolves_to_nobody(requested_by):
    assert resolve_proposers(requested_by, {"alice": "alice@example.com"}) == []
