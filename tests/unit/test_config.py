"""Configuration from CDK context: a good context builds, and each unsafe or broken value is refused by name."""
from __future__ import annotations

import copy
import json
import re

import pytest

from stacks.config import Config, ConfigError, Reviewer
from countersign.rules.policy import build_document
from tests.unit.builders import CONTEXT, REVIEWERS, policy_source


def config(**changes) -> Config:
    context = copy.deepcopy(CONTEXT)
    context.update(changes)
    for key in [k for k, v in context.items() if v is None]:
        del context[key]
    return Config.from_context(context.get)


def refusal(**changes) -> str:
    with pytest.raises(ConfigError) as caught:
        config(**changes)
    return str(caught.value)


def test_sample_context_builds():
    cfg = config()
    assert cfg.stage == "dev" and not cfg.is_production
    assert cfg.reviewers == (Reviewer("alice", "alice@example.com"), Reviewer("bob", "bob@example.com"))
    assert cfg.reviewer_ids == ["alice", "bob"]
    # the built-in policy.autonomy type: every reviewer may approve a calibrated loosening, two of them must
    assert cfg.policy == build_document(policy_source(), set(REVIEWERS), autonomy_review={"reviewers": REVIEWERS, "quorum": 2})
    autonomy = cfg.policy["action_types"]["policy.autonomy"]
    assert (autonomy["auto_approve_threshold"], autonomy["quorum"], autonomy["risk"]) == (1, 2, "high")
    assert cfg.calibrate_minutes == 60
    assert (cfg.audit_lock_mode, cfg.audit_retention_days, cfg.powertools_layer_version) == ("GOVERNANCE", 1, 27)
    assert cfg.review_base_url is None


def test_values_given_with_dash_c_arrive_as_strings_and_are_parsed():
    cfg = config(reviewers=json.dumps(CONTEXT["reviewers"]), policy=json.dumps(CONTEXT["policy"]),
                 audit_retention_days="30", powertools_layer_version="28", audit_lock_mode="compliance")
    assert cfg.policy == config().policy and cfg.reviewer_ids == ["alice", "bob"]
    assert (cfg.audit_retention_days, cfg.powertools_layer_version, cfg.audit_lock_mode) == (30, 28, "COMPLIANCE")


def test_broken_json_string_is_refused_by_key():
    assert refusal(policy='{"default": ').startswith("context policy: not valid JSON (")


@pytest.mark.parametrize("reviewers", [None, []])
def test_missing_reviewers_are_refused(reviewers):
    assert refusal(reviewers=reviewers) == "context reviewers: configure at least one reviewer {id, email}"


def test_duplicate_reviewer_ids_are_refused():
    twice = [{"id": "alice", "email": "a@example.com"}, {"id": "alice", "email": "b@example.com"}]
    assert refusal(reviewers=twice) == "context reviewers: reviewer ids must be unique"


@pytest.mark.parametrize("entry,fragment", [
    ({"id": "alice", "email": "not-an-email"}, "'not-an-email' is not an email address"),
    ({"id": "alice", "email": "a b@example.com"}, "is not an email address"),
    ({"id": "Alice", "email": "a@example.com"}, "id 'Alice' must match"),
    ({"id": "alice"}, "each entry needs id and email"),
    ({"id": "alice", "email": "a@example.com", "admin": True}, "alice: unknown field(s) admin; an entry may have "
                                                               "active, authority, email, id, principals, roles, trained_on"),
    ("alice@example.com", "each entry needs id and email"),
    ({"id": "alice", "email": "a@example.com", "principals": ["alice"]}, "alice's principals must be IAM or STS ARNs"),
    ({"id": "alice", "email": "a@example.com", "principals": "arn:aws:iam::123456789012:user/alice"},
     "alice's principals must be IAM or STS ARNs"),
])
def test_bad_reviewer_entries_are_refused(entry, fragment):
    message = refusal(reviewers=[entry])
    assert message.startswith("context reviewers: ") and fragment in message


def test_policy_errors_name_the_key_and_path():
    policy = copy.deepcopy(CONTEXT["policy"])
    policy["default"]["reviewers"] = ["carol"]
    assert refusal(policy=policy) == ("context policy: policy default: reviewers not configured: carol "
                                      "(at $.default.reviewers)")
    assert refusal(policy=None).startswith("context policy: $ must contain")


def test_bad_regex_in_parameters_schema_is_a_config_error():
    policy = copy.deepcopy(CONTEXT["policy"])
    policy["action_types"]["refund.issue"]["parameters"]["properties"]["customer_id"]["pattern"] = "("
    assert refusal(policy=policy).startswith("context policy: policy refund.issue: parameters is not a valid")


def test_bad_lock_mode_is_refused():
    assert refusal(audit_lock_mode="STRICT") == "context audit_lock_mode: must be COMPLIANCE or GOVERNANCE"


@pytest.mark.parametrize("retention,message", [
    (0, "context audit_retention_days: must be at least 1"),
    ("a year", "context audit_retention_days: must be an integer, got 'a year'"),
])
def test_bad_retention_is_refused(retention, message):
    assert refusal(audit_retention_days=retention) == message


@pytest.mark.parametrize("changes,got", [
    ({"audit_lock_mode": "GOVERNANCE", "audit_retention_days": 400}, "GOVERNANCE, 400"),
    ({"audit_lock_mode": "COMPLIANCE", "audit_retention_days": 182}, "COMPLIANCE, 182"),
    ({"audit_retention_days": 30}, "COMPLIANCE, 30"),
])
def test_prod_refuses_unsafe_audit_retention(changes, got):
    assert refusal(stage="prod", **changes) == (
        f"stage prod needs audit_lock_mode COMPLIANCE and audit_retention_days >= 183 (got {got})")


def test_prod_defaults_to_compliance_and_at_least_six_months():
    cfg = config(stage="prod")
    assert cfg.is_production and cfg.audit_lock_mode == "COMPLIANCE" and cfg.audit_retention_days >= 183


def test_prod_with_compliance_and_six_months_builds():
    cfg = config(stage="prod", audit_lock_mode="COMPLIANCE", audit_retention_days=183,
                 review_base_url="https://review.example.com")
    assert cfg.is_production and cfg.review_base_url == "https://review.example.com"


@pytest.mark.parametrize("stage", ["Prod", "my_stage", "a" * 17, "1dev"])
def test_bad_stage_names_are_refused(stage):
    assert refusal(stage=stage).startswith(f"context stage: {stage!r} must be lowercase")


def test_review_base_url_must_be_https():
    assert refusal(review_base_url="http://review.example.com") == "context review_base_url: must be an https:// URL"


@pytest.mark.parametrize("override, message", [
    ({"post_execution_review": True}, "post_execution_review needs an executor"),
    ({"hotl": "post_hoc", "executor": "arn:aws:lambda:eu-west-1:111122223333:function:send"},
     "hotl post_hoc needs an executor and a compensation"),
    ({"quorum": 3, "reviewers": ["alice", "bob"]}, "quorum 3 needs at least that many reviewers (has 2)"),
    ({"veto_threshold": 0.99}, "veto_threshold must be below auto_approve_threshold"),
    ({"executor": "https://example.com/run"}, "executor"),
    ({"tiers": [{"reviewers": ["mallory"], "timeout_seconds": 60}]}, "reviewers not configured: mallory"),
])
def test_policy_combinations_that_cannot_work_fail_synth(override, message):
    policy = copy.deepcopy(CONTEXT["policy"])
    policy["action_types"]["refund.issue"].update(override)
    with pytest.raises(ConfigError, match=re.escape(message)):
        Config.from_context({**CONTEXT, "policy": policy}.get)


def test_tiers_count_against_the_checkpoint_budget():
    tiered = copy.deepcopy(CONTEXT["policy"])
    tiered["action_types"]["deploy.production"] = {
        **tiered["action_types"].get("deploy.production", {}),
        "tiers": [{"reviewers": ["alice"], "timeout_seconds": 60}, {"reviewers": ["bob"], "timeout_seconds": 60}]}
    assert len(config(policy=tiered, max_human_gates=2).policy["action_types"]["deploy.production"]["tiers"]) == 2
    assert refusal(policy=tiered, max_human_gates=1) == (
        "context policy: action type 'deploy.production' asks 2 tiers of reviewers in turn, over the checkpoint "
        "budget of 1 human gate(s) per path (max_human_gates); use fewer tiers or raise the budget")


def test_production_takes_proposals_only_through_the_authenticated_submit_path_by_default():
    prod = {"stage": "prod", "audit_lock_mode": "COMPLIANCE", "audit_retention_days": 2557}
    assert config(**prod).authenticated_submitter_only is True
    assert config(**prod, authenticated_submitter_only="false").authenticated_submitter_only is False
    assert config().authenticated_submitter_only is False
    assert refusal(authenticated_submitter_only="sometimes") == (
        "context authenticated_submitter_only: must be true or false, got 'sometimes'")


def test_reviewer_principals_are_kept_for_separation_of_duties():
    reviewers = [{"id": "alice", "email": "a@example.com", "principals": [
        "arn:aws:sts::123456789012:assumed-role/alice-admin/*", "arn:aws:iam::123456789012:user/alice"]}]
    assert config(reviewers=reviewers).reviewers[0].principals == (
        "arn:aws:sts::123456789012:assumed-role/alice-admin/*", "arn:aws:iam::123456789012:user/alice")


def test_evidence_hosts_are_host_names():
    assert config(evidence_hosts=["shop.example.com", "docs.example"]).evidence_hosts == ("shop.example.com",
                                                                                           "docs.example")
    for bad in (["https://shop.example.com"], ["Shop.Example"], "shop.example.com", ["shop"]):
        assert refusal(evidence_hosts=bad).startswith("context evidence_hosts: a list of lowercase host names")


def test_the_reviewer_identity_context_key():
    assert config().audit_reviewer_identity == "id"
    assert config(audit_reviewer_identity="pseudonym").audit_reviewer_identity == "pseudonym"
    assert refusal(audit_reviewer_identity="name") == \
        "context audit_reviewer_identity: must be id or pseudonym, got 'name'"


def test_who_approves_autonomy_changes_is_checked():
    assert config(autonomy_review={"reviewers": ["bob"]}).policy["action_types"]["policy.autonomy"]["quorum"] == 1
    assert "autonomy_review.reviewers: configured reviewer ids" in refusal(autonomy_review={"reviewers": ["mallory"]})
    assert "autonomy_review.quorum: 1 to 2, got 3" in refusal(autonomy_review={"quorum": 3})
    assert "autonomy_review:" in refusal(autonomy_review={"quorum": 1, "auto": True})
    assert "calibrate_minutes: 5 to 1440, got 1" in refusal(calibrate_minutes=1)
    policy = {**CONTEXT["policy"], "action_types": {**CONTEXT["policy"]["action_types"], "policy.autonomy": {}}}
    assert "policy.autonomy is built in" in refusal(policy=policy)


def test_by_default_autonomy_changes_go_to_the_reviewers_with_the_authority_to_decide_them():
    people = [{"id": "alice", "email": "alice@example.com"},
              {"id": "bob", "email": "bob@example.com", "authority": {"risk": "medium"}},
              {"id": "carol", "email": "carol@example.com", "active": False},
              {"id": "dan", "email": "dan@example.com", "authority": {"risk": "high"}}]
    autonomy = config(reviewers=people).policy["action_types"]["policy.autonomy"]
    assert (autonomy["reviewers"], autonomy["quorum"], autonomy["risk"]) == (["alice", "dan"], 2, "high")


def test_the_notify_mode_and_digest_interval():
    assert (config().notify, config().digest_minutes) == ("each", 60)
    assert (config(notify="digest", digest_minutes="15").notify, config(digest_minutes=15).digest_minutes) == \
        ("digest", 15)
    assert refusal(notify="weekly") == "context notify: each (an email per review) or digest (batched), got 'weekly'"
    for bad in (4, 1441):
        assert refusal(notify="digest", digest_minutes=bad) == \
            "context digest_minutes: 5 to 1440 (at most one digest per reviewer per interval)"


def test_ops_keys_default_and_arrive_as_strings_with_dash_c():
    from stacks.config import Ops

    assert config().ops == Ops(None, 24, 60, 20, "default")
    cfg = config(ops_email="oncall@example.com", ops_pending_age_hours="4", ops_kill_switch_minutes="15",
                 ops_refused_links="100", event_bus_name="agents")
    assert cfg.ops == Ops("oncall@example.com", 4, 15, 100, "agents")


@pytest.mark.parametrize("changes, message", [
    ({"ops_email": "oncall"}, "context ops_email: 'oncall' is not an email address"),
    ({"ops_pending_age_hours": 0}, "context ops_pending_age_hours: 1 to 720"),
    ({"ops_kill_switch_minutes": "soon"}, "context ops_kill_switch_minutes: must be an integer, got 'soon'"),
    ({"ops_refused_links": 0}, "context ops_refused_links: 1 to 100000"),
    ({"event_bus_name": "my bus"}, "context event_bus_name: 'my bus' is not an event bus name"),
])
def test_bad_ops_keys_are_refused_by_key(changes, message):
    assert message in refusal(**changes)


def test_how_long_a_decision_receipt_may_be_acted_on():
    assert config().receipt_valid_hours == 24
    assert config(receipt_valid_hours="48").receipt_valid_hours == 48
    for bad in (0, 169):
        assert refusal(receipt_valid_hours=bad) == f"context receipt_valid_hours: 1 to 168, got {bad}"
