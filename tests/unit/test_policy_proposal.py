"""The oversight policy and the proposal contract: what is refused, with which path, and which rules apply."""
from __future__ import annotations

import re

import pytest

from countersign.rules.policy import Rules, UnknownActionType, build_document, rules_for
from countersign.rules.routing import expected_route, facts
from countersign.rules.proposal import InvalidProposal, check, check_shape, execution_name
from countersign.rules.validation import SchemaError
from tests.unit.builders import REVIEWERS, policy_document, policy_source, refund


def build_refusal(mutate) -> SchemaError:
    source = policy_source()
    mutate(source)
    with pytest.raises(SchemaError) as caught:
        build_document(source, set(REVIEWERS))
    return caught.value


def test_sample_policy_builds_with_a_content_version():
    doc = policy_document()
    assert re.fullmatch(r"[0-9a-f]{12}", doc["version"])
    assert set(doc) == {"default", "action_types", "version"}


def test_version_is_stable_for_equal_content_and_changes_with_it():
    source = policy_source()
    reordered = {"action_types": dict(reversed(list(source["action_types"].items()))), "default": source["default"]}
    assert build_document(reordered, set(REVIEWERS))["version"] == policy_document()["version"]
    source["default"]["auto_approve_threshold"] = 0.8
    assert build_document(source, set(REVIEWERS))["version"] != policy_document()["version"]


def test_unknown_default_reviewer_is_refused_with_path():
    error = build_refusal(lambda p: p["default"].update(reviewers=["carol", "alice"]))
    assert error.message == "policy default: reviewers not configured: carol"
    assert error.path == "$.default.reviewers"


def test_unknown_action_type_reviewer_is_refused_naming_the_type():
    error = build_refusal(lambda p: p["action_types"]["access.grant"].update(reviewers=["mallory"]))
    assert error.message == "policy access.grant: reviewers not configured: mallory"
    assert "access.grant" in error.path and error.path.endswith(".reviewers")


def test_invalid_parameters_schema_is_refused():
    error = build_refusal(lambda p: p["action_types"]["refund.issue"].update(parameters={"type": "nonsense"}))
    assert "policy refund.issue: parameters is not a valid JSON Schema" in error.message
    assert error.path.endswith("refund.issue.parameters")


@pytest.mark.parametrize("scope,value,path", [
    ("default", 1.5, "$.default.auto_approve_threshold"),
    ("default", -0.1, "$.default.auto_approve_threshold"),
    ("refund.issue", 1.01, "$.action_types.refund.issue.auto_approve_threshold"),
])
def test_thresholds_outside_zero_to_one_are_refused(scope, value, path):
    def mutate(p):
        (p["default"] if scope == "default" else p["action_types"][scope])["auto_approve_threshold"] = value
    error = build_refusal(mutate)
    assert error.path == path and "auto_approve_threshold must be" in error.message


@pytest.mark.parametrize("reasons", [[], ["Wrong"], ["wrong action"], ["policy", "policy"], ["x" * 33], "policy"])
def test_override_reasons_must_be_a_list_of_distinct_category_names(reasons):
    error = build_refusal(lambda p: p["default"].update(override_reasons=reasons))
    assert error.path.startswith("$.default.override_reasons")


def test_override_reasons_default_and_are_inherited_or_replaced_per_action_type():
    source = policy_source()
    source["default"]["override_reasons"] = ["wrong_parameters", "other"]
    source["action_types"]["refund.issue"]["override_reasons"] = ["duplicate"]
    doc = build_document(source, set(REVIEWERS))
    assert rules_for(doc, "refund.issue", REVIEWERS).override_reasons == ("duplicate",)
    assert rules_for(doc, "access.grant", REVIEWERS).override_reasons == ("wrong_parameters", "other")
    assert rules_for(policy_document(), "access.grant", REVIEWERS).override_reasons == (
        "wrong_parameters", "wrong_action", "insufficient_evidence", "policy", "other")
    rules = rules_for(doc, "refund.issue", REVIEWERS)
    assert Rules.from_snapshot(rules.snapshot()) == rules


def test_default_without_timeout_is_refused():
    error = build_refusal(lambda p: p["default"].pop("review_timeout_seconds"))
    assert error.path == "$.default" and "review_timeout_seconds" in error.message


@pytest.mark.parametrize("mutate", [
    lambda p: p["action_types"].update({"Refund Issue": {}}),
    lambda p: p["action_types"].update({"refund..issue": {}}),
    lambda p: p.update(action_types={}),
])
def test_bad_or_missing_action_type_names_are_refused(mutate):
    assert build_refusal(mutate).path == "$.action_types"


def test_rules_merge_default_with_type_overrides():
    doc = policy_document()
    refund_rules = rules_for(doc, "refund.issue", REVIEWERS)
    assert (refund_rules.auto_approve_threshold, refund_rules.review_timeout_seconds) == (0.95, 172800)
    assert refund_rules.reviewers == ("alice", "bob") and refund_rules.version == doc["version"]
    assert rules_for(doc, "email.bulk_send", REVIEWERS).auto_approve_threshold == 0.9
    assert rules_for(doc, "access.grant", REVIEWERS).reviewers == ("alice",)
    assert Rules.from_snapshot(refund_rules.snapshot()) == refund_rules


def test_type_without_parameters_schema_accepts_any_object():
    source = policy_source()
    source["action_types"]["ticket.close"] = {}
    assert rules_for(build_document(source, set(REVIEWERS)), "ticket.close", REVIEWERS).parameters == {"type": "object"}


def test_unknown_action_type_lists_the_accepted_ones():
    with pytest.raises(UnknownActionType) as caught:
        rules_for(policy_document(), "db.drop", REVIEWERS)
    assert str(caught.value) == ("unknown action type 'db.drop'; this stack accepts: "
                                 "access.grant, deploy.production, email.bulk_send, refund.issue")


def reversible(rules: Rules) -> Rules:
    import dataclasses

    return dataclasses.replace(rules, reversible=True)


@pytest.mark.parametrize("confidence,route", [(0.0, "human_review"), (0.9499, "human_review"),
                                              (0.95, "auto"), (0.951, "auto"), (1.0, "auto")])
def test_route_and_reason_agree_at_the_threshold(confidence, route):
    rules = reversible(rules_for(policy_document(), "refund.issue", REVIEWERS))
    found, reason = expected_route(confidence, rules, facts({}, rules, 0.5, "off"))
    assert found == route
    assert ("meets the auto-approve threshold 0.95" in reason) == (route == "auto")
    assert reason.endswith("for refund.issue") == (route == "human_review")


def test_threshold_one_never_auto_approves_a_self_reported_certainty():
    rules = reversible(rules_for(policy_document(), "deploy.production", REVIEWERS))
    route_facts = facts({}, rules, 0.5, "off")
    assert [expected_route(c, rules, route_facts) for c in (0.99, 1.0)] == [
        ("human_review", "deploy.production never auto-approves (threshold 1): a human decides")] * 2


def test_valid_proposal_returns_its_rules():
    assert check(refund(), policy_document(), REVIEWERS).action_type == "refund.issue"


def _without_confidence(p):
    p.pop("confidence")


@pytest.mark.parametrize("mutate,path,fragment", [
    (_without_confidence, "$", "must contain ['confidence'] properties"),
    (lambda p: p.update(confidence=1.5), "$.confidence", "smaller than or equal to 1"),
    (lambda p: p.update(confidence=True), "$.confidence", "must be number"),
    (lambda p: p.update(admin=True), "$", "must not contain {'admin'} properties"),
    (lambda p: p["evidence"][0].update(url="javascript:alert(1)"), "$.evidence", "must match pattern"),
    (lambda p: p["action"].update(summary="x" * 501), "$.action.summary", "shorter than or equal to 500"),
    (lambda p: p["action"].update(type="db.drop"), "$.action.type", "unknown action type 'db.drop'"),
    (lambda p: p["action"]["parameters"].update(amount=20000), "$.action.parameters.amount", "10000"),
    (lambda p: p["action"]["parameters"].update(currency="JPY"), "$.action.parameters.currency", "one of"),
    (lambda p: p["action"]["parameters"].pop("customer_id"), "$.action.parameters", "customer_id"),
])
def test_invalid_proposals_are_refused_with_a_path(mutate, path, fragment):
    doc = refund()
    mutate(doc)
    with pytest.raises(InvalidProposal) as caught:
        check(doc, policy_document(), REVIEWERS)
    [error] = caught.value.errors
    assert error["path"].startswith(path) and fragment in error["message"]
    assert str(caught.value) == f"{error['path']}: {error['message']}"


@pytest.mark.parametrize("not_an_object", [None, [], "refund everyone", 42])
def test_non_object_proposals_are_refused(not_an_object):
    with pytest.raises(InvalidProposal) as caught:
        check(not_an_object, policy_document(), REVIEWERS)
    assert caught.value.errors[0]["path"] == "$"


def test_check_shape_needs_no_policy_but_still_checks_the_shape():
    check_shape(refund(action={"type": "anything.new", "summary": "s", "parameters": {}}))
    with pytest.raises(InvalidProposal, match="schema_version"):
        check_shape(refund(schema_version="2"))


def test_execution_name_is_stable_and_safe_for_a_key():
    assert execution_name(refund(idempotency_key="order-5531_v2")) == "order-5531_v2"
    unsafe = execution_name(refund(), "billing/512:retry #3")
    assert unsafe.startswith("billing-512-retry--3-") and unsafe == execution_name(refund(), "billing/512:retry #3")
    assert execution_name(refund(), "a.b") != execution_name(refund(), "a/b")   # distinct keys stay distinct
    assert execution_name(refund(idempotency_key="from-doc"), "from-arg") == "from-arg"
    long_name = execution_name(refund(), "k" * 200)
    assert len(long_name) <= 80 and execution_name(refund(), "k" * 200) == long_name
    assert long_name != execution_name(refund(), "k" * 199)


def test_execution_name_without_a_key_is_fresh_each_time():
    names = {execution_name(refund()) for _ in range(20)}
    assert len(names) == 20
    assert all(re.fullmatch(r"p-[0-9a-f]{32}", n) for n in names)


def test_the_deployed_policy_is_checked_again_at_run_time():
    from countersign.rules.policy import checked_document
    from countersign.rules.validation import SchemaError

    document = policy_document()
    assert checked_document(document) is document
    tampered = {**document, "default": {**document["default"], "auto_approve_threshold": 0.1}}
    with pytest.raises(SchemaError, match="does not match its version hash"):
        checked_document(tampered)
    with pytest.raises(SchemaError):
        checked_document({**document, "default": {"auto_approve_threshold": 2}})


def test_an_action_type_may_describe_itself_for_agents_and_only_an_action_type():
    source = policy_source()
    name = next(iter(source["action_types"]))
    source["action_types"][name]["description"] = "Refund a customer's charge through the payment provider."
    doc = build_document(source, set(REVIEWERS))
    assert doc["action_types"][name]["description"].startswith("Refund a customer's")
    assert doc["version"] != policy_document()["version"]           # it is part of what was reviewed
    assert rules_for(doc, name, list(REVIEWERS)) == rules_for(policy_document(), name, list(REVIEWERS)).__class__(
        **{**rules_for(policy_document(), name, list(REVIEWERS)).__dict__, "version": doc["version"]})  # routes alike
    for bad in ("", "x" * 1001, 7):
        error = build_refusal(lambda p: p["action_types"][name].update(description=bad))
        assert error.path == f"$.action_types.{name}.description"
    error = build_refusal(lambda p: p["default"].update(description="Everything."))
    assert error.path == "$.default.description" and "belongs to an action type" in error.message
