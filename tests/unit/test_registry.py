"""The reviewer registry: synth refuses what cannot work (by name), roles expand to active people,
and the registry says in plain words why someone may not decide."""
from __future__ import annotations

import copy

import pytest

from countersign.review.registry import ABOVE, INACTIVE, OUTSIDE, parse
from stacks.config import Config, ConfigError
from tests.unit.builders import CONTEXT

ALICE = {"id": "alice", "email": "alice@example.com", "roles": ["ops"], "authority": {"risk": "critical"},
         "trained_on": "2026-09-14"}
BOB = {"id": "bob", "email": "bob@example.com", "roles": ["finance"],
       "authority": {"risk": "medium", "action_types": ["refund.issue", "email.bulk_send"]}}


def config(reviewers=None, **action_types) -> Config:
    context = copy.deepcopy(CONTEXT)
    context["reviewers"] = reviewers or [ALICE, BOB]
    context["policy"]["action_types"].update(action_types)
    return Config.from_context(context.get)


def refusal(reviewers=None, **action_types) -> str:
    with pytest.raises(ConfigError) as caught:
        config(reviewers, **action_types)
    return str(caught.value)


def test_roles_authority_active_and_training_are_read_and_deployed():
    cfg = config(**{"refund.issue": {"tiers": [{"reviewers": ["role:finance"], "timeout_seconds": 60}]}})
    bob = cfg.registry.by_id["bob"]
    assert (bob.roles, bob.risk, bob.action_types, bob.active) == (("finance",), "medium",
                                                                   ("refund.issue", "email.bulk_send"), True)
    assert cfg.registry.by_id["alice"].trained_on == "2026-09-14"
    assert parse(__import__("json").loads(cfg.registry.to_json())) == cfg.registry   # the deployed document round-trips


def test_a_role_nobody_holds_fails_synth():
    assert refusal(**{"refund.issue": {"reviewers": ["role:legal"]}}) == \
        "context policy: policy refund.issue: role 'legal' is held by no reviewer (at $.action_types.refund.issue.reviewers)"


def test_a_tier_nobody_active_may_decide_fails_synth():
    # access.grant names only alice; with alice inactive nobody may decide it
    inactive, senior = {**ALICE, "active": False}, {**BOB, "authority": {"risk": "high"}}
    assert refusal([inactive, senior]) == (
        "context reviewers and policy: policy access.grant: nobody active in tier 1 (none of its reviewers is "
        "active) may decide a "
        "medium-risk access.grant; give someone the authority, or change the tier")
    # a role tier whose holders may not decide at the type's risk
    message = refusal(**{"deploy.production": {"risk": "high", "tiers": [{"reviewers": ["role:finance"],
                                                                          "timeout_seconds": 60}]}})
    assert message == ("context reviewers and policy: policy deploy.production: nobody active in tier 1 (bob) may "
                       "decide a high-risk deploy.production; give someone the authority, or change the tier")


@pytest.mark.parametrize("change, fragment", [
    ({"authority": {"risk": "huge"}}, "bob's authority must be {\"risk\": one of low, medium, high, critical"),
    ({"authority": {"risk": "low", "teams": []}}, "bob's authority must be"),
    ({"authority": {"risk": "low", "action_types": "refund.issue"}}, "bob's authority.action_types must be a list"),
    ({"active": "no"}, "bob's active must be true or false, got 'no'"),
    ({"trained_on": "last spring"}, "bob's trained_on must be a date like 2026-03-01, got 'last spring'"),
    ({"roles": ["Finance Team"]}, "bob's roles must be a list of names like \"finance\""),
    ({"clearance": "secret"}, "bob: unknown field(s) clearance"),
])
def test_bad_registry_fields_are_refused_by_name(change, fragment):
    message = refusal([ALICE, {**BOB, **change}])
    assert message.startswith("context reviewers: ") and fragment in message


def test_an_authority_naming_an_unknown_action_type_fails_synth():
    odd = {**BOB, "authority": {"risk": "low", "action_types": ["refund.isue"]}}
    assert refusal([ALICE, odd]) == ("context reviewers and policy: bob's authority names unknown action type(s): "
                                     "refund.isue")


def test_roles_expand_to_active_reviewers_only_in_order_and_once():
    registry = parse([ALICE, BOB, {"id": "dora", "email": "d@example.com", "roles": ["finance"], "active": False}])
    assert registry.expand(["role:finance", "alice", "bob", "dora"]) == ["bob", "alice"]


@pytest.mark.parametrize("reviewer, action_type, risk, kind, words", [
    ("bob", "refund.issue", "high", ABOVE, "this action's risk is high, above your authority (up to medium)"),
    ("bob", "deploy.production", "low", OUTSIDE, "deploy.production actions are outside your assignment "
                                                 "(you decide: refund.issue, email.bulk_send)"),
    ("dora", "refund.issue", "low", INACTIVE, "your reviewer account is not active"),
    ("mallory", "refund.issue", "low", INACTIVE, "your reviewer account is not active"),
])
def test_the_registry_says_why_someone_may_not_decide(reviewer, action_type, risk, kind, words):
    registry = parse([ALICE, BOB, {"id": "dora", "email": "d@example.com", "active": False}])
    refused = registry.refusal(reviewer, action_type, risk)
    assert refused.kind == kind and refused.message.startswith(words)
    assert registry.refusal("bob", "refund.issue", "medium") is None and registry.may_see("alice", "x", "critical")
