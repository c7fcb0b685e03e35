"""What the audit records say beyond the route: when the deciding page was rendered and how long the
reviewer took, the digest of the input as received, and reviewers named by pseudonym, run through
the deployed stack."""
from __future__ import annotations

import json
import time
from datetime import datetime

import boto3
import pytest

from countersign.rules import canonical

from countersign.evidence import identity
from countersign.evidence.audit import GENESIS, record_hash
from countersign.adapters.aws import DynamoPseudonyms
from countersign.sandbox import lambda_runtime
from tests.helpers import (decide, decision_url, form_token, hidden_fields, proposal, review_id_of, review_link,
                           unique)

TWO_PERSON = {"type": "two.person", "summary": "Rotate the payments signing key", "parameters": {}}


def record_of(stack, arn: str, event: str) -> dict:
    found = [r for r in stack.execution_records(arn) if r["event"] == event]
    assert len(found) == 1, [r["event"] for r in stack.execution_records(arn)]
    return found[0]


def finished(stack, arn: str) -> dict:
    done = stack.wait(arn)
    assert done["status"] == "SUCCEEDED", done
    return json.loads(done["output"])


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def open_page(stack, link: str) -> dict[str, str]:
    page = stack.http("GET", link)
    assert page.status == 200
    return hidden_fields(page.body)


def test_the_decision_records_when_the_page_was_rendered_and_the_dwell(stack):
    arn = stack.start(proposal(), unique("dwell"))
    link = review_link(stack, arn)
    before = time.time()
    form = open_page(stack, link)
    time.sleep(1.2)                                   # the reviewer reads the case
    answer = stack.http("POST", decision_url(link), {**form, "decision": "approve", "rationale": "Checked."})
    assert answer.status == 200, answer.body
    finished(stack, arn)
    decided = record_of(stack, arn, "decision_recorded")
    assert before - 0.01 <= epoch(decided["rendered_at"]) <= before + 1.0
    assert 1.2 <= decided["dwell_seconds"] < 10
    assert decided["votes"][0]["rendered_at"] == decided["rendered_at"]


def test_a_form_without_a_rendering_stamp_records_null(stack):
    arn = stack.start(proposal(), unique("nostamp"))
    link = review_link(stack, arn)
    page = stack.http("GET", link)
    answer = stack.http("POST", decision_url(link), {"t": form_token(page.body), "decision": "approve"})
    assert answer.status == 200          # a page rendered before pages carried the stamp
    finished(stack, arn)
    decided = record_of(stack, arn, "decision_recorded")
    assert decided["rendered_at"] is None and decided["dwell_seconds"] is None


@pytest.mark.parametrize("tamper", ["earlier", "other reviewer", "garbage"])
def test_a_tampered_rendering_stamp_is_refused_and_audited(stack, tamper):
    arn = stack.start(proposal(), unique("stamp"))
    alice, bob = review_link(stack, arn, "alice"), review_link(stack, arn, "bob")
    form = open_page(stack, alice)
    version, ms, mac = form["rendered"].split(".")
    form["rendered"] = {"earlier": f"{version}.{int(ms) - 60_000}.{mac}",
                        "other reviewer": open_page(stack, bob)["rendered"],
                        "garbage": "v1.123.not-a-mac"}[tamper]
    answer = stack.http("POST", decision_url(alice), {**form, "decision": "approve"})
    assert answer.status == 400 and "rendering stamp" in answer.body
    [refusal] = [r for r in stack.audit_records("refusals/")
                 if r["request"].get("review_id") == alice.split("/reviews/")[1].split("?")[0]]
    assert refusal["status"] == 400 and refusal["actor"] == "reviewer:alice" and "rendering stamp" in refusal["reason"]
    assert "decision_recorded" not in [r["event"] for r in stack.execution_records(arn)]
    assert decide(stack, alice, "approve").status == 200           # the genuine page still decides
    assert finished(stack, arn)["outcome"] == "approved"


def test_a_counted_approval_and_a_late_click_carry_the_dwell(stack):
    arn = stack.start(proposal(confidence=0.99, reversible=False, action=TWO_PERSON), unique("quorum-dwell"))
    assert decide(stack, review_link(stack, arn, "alice"), "approve").status == 200
    vote = record_of(stack, arn, "vote_recorded")
    assert vote["rendered_at"] and vote["dwell_seconds"] >= 0

    late_arn = stack.start(proposal(), unique("late-dwell"))
    link = review_link(stack, late_arn, "bob")
    form = open_page(stack, link)
    reviews = lambda_runtime.handler_module(stack.deployment.function_name("lambdas.conclude")).DEPS.reviews
    assert reviews.expire(review_id_of(stack, late_arn)).status == "EXPIRED"     # the timer won
    answer = stack.http("POST", decision_url(link), {**form, "decision": "approve"})
    assert answer.status == 409
    late = record_of(stack, late_arn, "late_decision")
    assert late["rendered_at"] and late["dwell_seconds"] >= 0
    stack.sfn.stop_execution(executionArn=late_arn)


def test_proposal_received_carries_the_digest_of_the_input_as_received(stack):
    sent = proposal(confidence=0.97, idempotency_key=unique("key"))
    arn = stack.start(sent, unique("digest"))
    finished(stack, arn)
    received = record_of(stack, arn, "proposal_received")
    assert received["input_sha256"] == canonical.sha256(sent) == canonical.sha256(received["proposal"])
    assert received["proposal_sha256"] == canonical.sha256({k: v for k, v in sent.items() if k != "idempotency_key"})
    assert received["input_sha256"] != received["proposal_sha256"]


# Reviewer pseudonyms ------------------------------------------------------------------------

@pytest.fixture
def pseudonymous(stack):
    """Prepare configured with ``AUDIT_REVIEWER_IDENTITY=pseudonym`` (and the table for the lookup),
    as the stack deploys it with ``-c audit_reviewer_identity=pseudonym``; back to ids afterwards."""
    prepare = stack.deployment.function_name("lambdas.prepare")
    lambda_runtime.ENV_OVERRIDES.setdefault(prepare, {}).update(
        {"AUDIT_REVIEWER_IDENTITY": "pseudonym", "REVIEWS_TABLE": stack.table})
    lambda_runtime.reset()
    yield DynamoPseudonyms(boto3.client("dynamodb"), stack.table)
    for key in ("AUDIT_REVIEWER_IDENTITY", "REVIEWS_TABLE"):
        lambda_runtime.ENV_OVERRIDES[prepare].pop(key, None)
    lambda_runtime.reset()


def stack_mac(stack):
    key_id = next(res["Properties"]["Environment"]["Variables"]["LINK_KEY_ID"]
                  for res in stack.deployment.template["Resources"].values()
                  if res["Type"] == "AWS::Lambda::Function"
                  and "LINK_KEY_ID" in res["Properties"].get("Environment", {}).get("Variables", {}))
    kms = boto3.client("kms")
    return lambda message: kms.generate_mac(KeyId=key_id, Message=message, MacAlgorithm="HMAC_SHA_256")["Mac"]


def test_records_name_reviewers_by_pseudonym_and_the_lookup_resolves_them(stack, pseudonymous):
    arn = stack.start(proposal(requested_by="carol"), unique("pseudo"))
    link = review_link(stack, arn, "alice")               # the email still goes to alice, by id
    refused = stack.http("POST", decision_url(link), {**open_page(stack, link), "decision": "reject"})
    assert refused.status == 400                          # a rationale is required to reject
    assert decide(stack, link, "approve", "Looks right.").status == 200
    verdict = finished(stack, arn)
    assert verdict["reviewers"][0]["id"] == "alice"       # the verdict goes to the caller, not the bucket

    alice = identity.pseudonym(stack_mac(stack), "alice")
    assert alice.startswith("ps-") and len(alice) == 27
    trail = stack.execution_records(arn)
    decided = record_of(stack, arn, "decision_recorded")
    assert decided["reviewer"] == alice and decided["actor"] == f"reviewer:{alice}"
    assert decided["votes"][0]["reviewer"] == alice and decided["rendered_at"]
    closing = record_of(stack, arn, "verdict_issued")
    assert closing["decided_by"] == alice and closing["reviewers"][0]["id"] == alice
    requested = record_of(stack, arn, "review_requested")
    assert len(requested["reviewers"]) == 3 and alice in requested["reviewers"]
    assert record_of(stack, arn, "proposal_received")["facts"]["proposed_by"] == [
        identity.pseudonym(stack_mac(stack), "carol")]
    refusal = [r for r in stack.audit_records("refusals/") if r["request"].get("reviewer") == alice]
    assert refusal and refusal[-1]["actor"] == f"reviewer:{alice}"
    # what the proposer wrote (requested_by, the proposal) is recorded as written; everything the gate writes is not
    assert record_of(stack, arn, "proposal_received")["requested_by"] == "carol"
    gate_wrote = [{k: v for k, v in r.items() if k not in ("requested_by", "proposal")} for r in trail + refusal]
    written = json.dumps(gate_wrote)
    for reviewer in ("alice", "bob", "carol"):
        assert f'"{reviewer}"' not in written and f"reviewer:{reviewer}" not in written
    assert {pseudonymous.resolve(name) for name in requested["reviewers"]} == {"alice", "bob", "carol"}

    # the erasure duty: delete the lookup; the locked records and their chain stay as they were
    pseudonymous.forget(alice)
    assert pseudonymous.resolve(alice) is None
    again = stack.execution_records(arn)
    assert again == trail and again[0]["prev_hash"] == GENESIS
    for prev, record in zip(again, again[1:]):
        assert record["prev_hash"] == prev["hash"]
    assert all(record["hash"] == record_hash(record) for record in again)


def test_the_pseudonym_of_a_reviewer_is_the_same_in_every_case(stack, pseudonymous):
    named = []
    for _ in range(2):
        arn = stack.start(proposal(requested_by="carol"), unique("stable"))
        review_id_of(stack, arn)                                   # review_requested is written
        named.append((record_of(stack, arn, "review_requested")["reviewers"],
                      record_of(stack, arn, "proposal_received")["facts"]["proposed_by"]))
        stack.sfn.stop_execution(executionArn=arn)
    assert named[0] == named[1] and not set(named[0][0]) & {"alice", "bob", "carol"}


def test_by_default_records_name_reviewers_by_id(stack):
    arn = stack.start(proposal(), unique("by-id"))
    assert decide(stack, review_link(stack, arn, "bob"), "approve").status == 200
    finished(stack, arn)
    decided = record_of(stack, arn, "decision_recorded")
    assert decided["reviewer"] == "bob" and decided["actor"] == "reviewer:bob"
    assert record_of(stack, arn, "verdict_issued")["reviewers"][0]["id"] == "bob"
