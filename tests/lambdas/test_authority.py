"""Who may decide: the reviewer registry read at request time (SSM), through the deployed template's
routes. Each refusal is a 403 with the reason in plain words and a `refused_request` record; a
deactivated reviewer's links stop working at once; a tier may name a role."""
from __future__ import annotations

import json
import time
from urllib.parse import quote

import boto3
import pytest

from tests.lambdas.test_inbox import inbox_of
from tests.helpers import decide, decision_url, hidden_fields, proposal, review_id_of, review_link, unique
from tests.lambdas.test_review_api import item, new_refusals, refusals, review_id_of_link
from tests.lambdas.threat_world import signed, token_of


@pytest.fixture
def registry(stack):
    """Change the deployed registry as an operator does (the SSM parameter); Prepare and the desk
    read it with no cache here (5 s when deployed). Restored afterwards."""
    from countersign.sandbox import lambda_runtime

    ssm = boto3.client("ssm")
    name = stack.deployment.outputs["ReviewerRegistryParameterName"]
    original = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    for handler in ("lambdas.prepare", "lambdas.review_api"):
        lambda_runtime.ENV_OVERRIDES.setdefault(stack.deployment.function_name(handler), {})[
            "REGISTRY_CACHE_SECONDS"] = "0"
    lambda_runtime.reset()

    def change(**people: dict) -> None:
        entries = [{**entry, **people.get(entry["id"], {})} for entry in json.loads(original)]
        ssm.put_parameter(Name=name, Value=json.dumps(entries), Overwrite=True)

    yield change
    ssm.put_parameter(Name=name, Value=original, Overwrite=True)


def refused(stack, before, reviewer: str, kind: str | None, words: str) -> dict:
    [record] = new_refusals(stack, before)
    assert record["status"] == 403 and record["actor"] == f"reviewer:{reviewer}" and words in record["reason"]
    assert record["request"].get("refusal") == kind
    return record


def test_a_decision_above_the_reviewers_authority_is_refused(stack):
    arn = stack.start(proposal(risk="high"), unique("above"))        # the proposal raises the risk to high
    link = review_link(stack, arn, "carol")                          # carol's authority goes up to medium
    page = stack.http("GET", link)
    words = "this action&#39;s risk is high, above your authority (up to medium)"
    assert page.status == 200 and f"You may not decide this: {words}" in page.body and "<form" not in page.body
    before = refusals(stack)
    answer = stack.http("POST", decision_url(link), {**hidden_fields(page.body), "t": token_of(link),
                                                     "decision": "approve", "rationale": ""})
    assert answer.status == 403 and f"Your decision was not recorded: {words}" in answer.body
    refused(stack, before, "carol", "above_authority", "this action's risk is high, above your authority")
    assert item(stack, review_id_of_link(link))["status"]["S"] == "PENDING"
    assert decide(stack, review_link(stack, arn, "alice"), "approve", "ok").status == 200   # alice may


def test_a_decision_outside_the_reviewers_assignment_is_refused(stack, registry):
    registry(bob={"authority": {"risk": "critical", "action_types": ["finance.payout"]}})
    arn = stack.start(proposal(), unique("outside"))
    link = review_link(stack, arn, "bob")
    page = stack.http("GET", link)
    assert page.status == 200 and "<form" not in page.body and "You may not decide this" in page.body
    token = token_of(link)
    before = refusals(stack)
    answer = stack.http("POST", decision_url(link), {"t": token, "decision": "reject", "rationale": "no"})
    assert answer.status == 403
    assert "refund.issue actions are outside your assignment (you decide: finance.payout)" in answer.body
    refused(stack, before, "bob", "outside_assignment", "outside your assignment")
    # and a genuine link for a review this reviewer was never assigned opens nothing
    payout = stack.start(proposal(action={**proposal()["action"], "type": "finance.payout"}), unique("unassigned"))
    payout_id = review_id_of(stack, payout)
    forged = decision_url(f"http://127.0.0.1:8000/reviews/{payout_id}")
    before = refusals(stack)
    alices = signed(stack, payout_id, "alice", int(time.time()) + 600)
    answer = stack.http("POST", forged, {"t": alices, "decision": "approve", "rationale": ""})
    assert answer.status == 403 and "this link does not grant access to that review" in answer.body
    refused(stack, before, "alice", "outside_assignment", "does not grant access")


def test_deactivating_a_reviewer_makes_their_outstanding_links_useless_at_once(stack, registry):
    arn = stack.start(proposal(), unique("inactive"))
    link = review_link(stack, arn, "bob")
    page = stack.http("GET", link)
    assert page.status == 200
    registry(bob={"active": False})
    before = refusals(stack)
    opened = stack.http("GET", link)
    assert opened.status == 403 and "your reviewer account is not active, so your links no longer work" in opened.body
    refused(stack, before, "bob", "inactive", "not active")
    before = refusals(stack)
    answer = stack.http("POST", decision_url(link), {**hidden_fields(page.body), "decision": "approve", "rationale": ""})
    assert answer.status == 403 and "Your decision was not recorded: your reviewer account is not active" in answer.body
    refused(stack, before, "bob", "inactive", "not active")
    assert item(stack, review_id_of_link(link))["status"]["S"] == "PENDING"
    # new reviews no longer ask bob
    later = stack.start(proposal(), unique("after"))
    review_id_of(stack, later)
    [asked] = [r for r in stack.execution_records(later) if r["event"] == "review_requested"]
    assert asked["reviewers"] == ["alice", "carol"]
    before = refusals(stack)                                          # nor does their inbox
    inbox = stack.http("GET", inbox_of(stack, "bob"))
    assert inbox.status == 403 and "your reviewer account is not active" in inbox.body
    assert refused(stack, before, "bob", "inactive", "not active")["request"]["resource"] == "/inbox"
    registry(bob={"active": True})                                    # reactivated: the same link works again
    assert stack.http("GET", link).status == 200
    assert stack.http("GET", inbox_of(stack, "bob")).status == 200


def test_a_tier_that_names_a_role_asks_whoever_holds_it(stack, registry):
    payout = {**proposal()["action"], "type": "finance.payout"}
    arn = stack.start(proposal(action=payout), unique("role"))
    review_id = review_id_of(stack, arn)
    [asked] = [r for r in stack.execution_records(arn) if r["event"] == "review_requested"]
    assert asked["reviewers"] == ["carol"]                            # role:finance is carol
    assert sorted(e.reviewer for e in stack.emails() if review_id in e.body) == ["carol"]
    assert decide(stack, review_link(stack, arn, "carol"), "approve", "ok").status == 200
    verdict = json.loads(stack.wait(arn)["output"])
    assert verdict["outcome"] == "approved" and verdict["reviewers"][0]["id"] == "carol"
    registry(bob={"roles": ["finance"]})                              # bob joins finance: the next payout asks him too
    later = stack.start(proposal(action=payout), unique("role-later"))
    review_id_of(stack, later)
    [asked] = [r for r in stack.execution_records(later) if r["event"] == "review_requested"]
    assert asked["reviewers"] == ["bob", "carol"]


def test_the_same_page_link_is_refused_when_forged_for_a_deactivated_reviewer_with_a_fresh_signature(stack, registry):
    """The signature is not the authority: a genuinely signed link of an inactive reviewer opens nothing."""
    arn = stack.start(proposal(), unique("fresh"))
    review_id = review_id_of(stack, arn)
    registry(carol={"active": False})
    token = signed(stack, review_id, "carol", int(time.time()) + 600)
    page = stack.http("GET", f"http://127.0.0.1:8000/reviews/{review_id}?t={quote(token)}")
    assert page.status == 403 and "not active" in page.body
