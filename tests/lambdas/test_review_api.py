"""The review API through the deployed template's routes: real API Gateway proxy events, the
real Lambda invoked through moto. Every refusal gets a clear page, the right status and an audit
record; GET and HEAD change nothing. Hostile requests are in the threat corpus (``test_threats``)."""
from __future__ import annotations

import json
from urllib.parse import urlsplit

import boto3
import pytest

from tests.helpers import decide, decision_url, form_token, proposal, review_id_of, review_link, unique


@pytest.fixture(scope="module")
def pending(stack):
    """One pending review, shared by the refusal tests that must leave it undecided."""
    arn = stack.start(proposal(), unique("api"))
    return arn, review_link(stack, arn, "alice")


def review_id_of_link(link: str) -> str:
    return urlsplit(link).path.rsplit("/", 1)[1]


def item(stack, review_id: str) -> dict:
    ddb = boto3.client("dynamodb")
    return ddb.get_item(TableName=stack.table, Key={"pk": {"S": f"REVIEW#{review_id}"}, "sk": {"S": "REVIEW"}})["Item"]


def refusals(stack) -> list[dict]:
    return stack.audit_records("refusals/")


def new_refusals(stack, before: list[dict]) -> list[dict]:
    seen = {r["hash"] for r in before}
    return [r for r in refusals(stack) if r["hash"] not in seen]


def test_get_and_head_change_nothing(stack, pending):
    _, link = pending
    review_id = review_id_of_link(link)
    before, audit_before = item(stack, review_id), len(stack.audit_records("executions/"))
    assert stack.http("GET", link).status == 200
    head = stack.http("HEAD", link)
    assert head.status == 200 and head.body == ""
    assert item(stack, review_id) == before
    assert len(stack.audit_records("executions/")) == audit_before


def test_pages_carry_strict_security_headers(stack, pending):
    page = stack.http("GET", pending[1])
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    assert "<script" not in page.body


@pytest.mark.parametrize("form, status, message", [
    ({"decision": "reject", "rationale": ""}, 400, "rationale is required to reject"),
    ({"decision": "modify", "rationale": ""}, 400, "rationale is required to modify"),
    ({"decision": "modify", "rationale": "x", "parameters": '{"customer_id": "1182", "amount": -5, "currency": "USD"}'},
     400, "break the action&#39;s schema"),
    ({"decision": "modify", "rationale": "x", "parameters": "{not json"}, 400, "not valid JSON"),
    ({"decision": "launch", "rationale": "x"}, 400, "choose approve, modify or reject"),
    ({"decision": "reject", "rationale": "x"}, 400, "choose a reason to reject from the list: wrong parameters, "
                                                     "wrong action, insufficient evidence, policy, other"),
    ({"decision": "modify", "rationale": "x", "reason": "<b>made_up</b>",
      "parameters": '{"customer_id": "1182", "amount": 5, "currency": "USD"}'}, 400, "choose a reason to modify"),
])
def test_bad_decisions_get_400_leave_the_review_pending_and_are_audited(stack, pending, form, status, message):
    _, link = pending
    before = refusals(stack)
    page = stack.http("GET", link)
    answer = stack.http("POST", decision_url(link), {"t": form_token(page.body), **form})
    assert answer.status == status and message in answer.body
    assert item(stack, review_id_of_link(link))["status"]["S"] == "PENDING"
    [latest] = new_refusals(stack, before)
    assert latest["status"] == status and latest["actor"] == "reviewer:alice"
    assert "<b>" not in answer.body and "made_up" not in json.dumps(latest)     # what was sent is not echoed


@pytest.mark.parametrize("choice, reason, recorded", [("reject", "policy", "policy"),
                                                      ("modify", "wrong_parameters", "wrong_parameters"),
                                                      ("approve", "other", None)])
def test_the_decision_record_carries_the_reason_category_of_an_override(stack, choice, reason, recorded):
    arn = stack.start(proposal(), unique(f"reason-{choice}"))
    link = review_link(stack, arn, "bob")
    edited = '{"customer_id": "1182", "amount": 5, "currency": "USD"}' if choice == "modify" else None
    assert decide(stack, link, choice, "Checked against the ledger.", edited, reason=reason).status == 200
    stack.wait(arn)
    [decided] = [r for r in stack.execution_records(arn) if r["event"] == "decision_recorded"]
    assert decided["reason"] == recorded and decided["decision"] == {"reject": "rejected", "modify": "modified",
                                                                     "approve": "approved"}[choice]
    page = stack.http("GET", link).body
    assert ("Reason: " in page) == (recorded is not None)


def test_a_second_decision_gets_409_and_the_first_stands(stack):
    arn = stack.start(proposal(), unique("twice"))
    alice, bob = review_link(stack, arn, "alice"), review_link(stack, arn, "bob")
    bobs_open_page = stack.http("GET", bob).body           # bob opened the case earlier
    assert decide(stack, alice, "approve", "fine").status == 200
    before = refusals(stack)
    second = stack.http("POST", decision_url(bob), {"t": form_token(bobs_open_page), "decision": "reject",
                                                    "rationale": "no", "reason": "wrong_action"})
    assert second.status == 409 and "another decision on this review was recorded first" in second.body
    assert json.loads(stack.wait(arn)["output"])["outcome"] == "approved"
    assert [r["status"] for r in new_refusals(stack, before)] == [409]
    # the page now shows the outcome instead of a form
    page = stack.http("GET", bob)
    assert page.status == 200 and "Approved by alice" in page.body and "<form" not in page.body


def test_ai_written_links_are_inert_in_the_email_and_on_the_page_unless_their_host_is_allowed(stack):
    lure = proposal(action={"type": "refund.issue", "summary": "APPROVE HERE: https://evil.example/approve \u202egnp.exe",
                            "parameters": {"customer_id": "1", "amount": 1, "currency": "USD"}},
                    evidence=[{"label": "order", "value": "5531", "url": "https://shop.example/orders/5531"},
                              {"label": "proof", "value": "see", "url": "https://evil.example/approve"}])
    arn = stack.start(lure, unique("lure"))
    email = stack.wait_for_email("alice", review_id_of(stack, arn))
    assert "https://evil.example" not in email.body and "hxxps[://]evil[.]example/approve [U+202E]gnp[.]exe" in email.body
    assert email.links == [review_link(stack, arn)]                         # the only live link: the review's own
    page = stack.http("GET", email.links[0]).body
    assert '<a href="https://shop.example/orders/5531"' in page              # on this deployment's evidence_hosts
    assert 'href="https://evil.example' not in page and '<span class="unverified">https://evil.example/approve</span>' in page
    assert "APPROVE HERE: https://evil.example/approve [U+202E]gnp.exe" in page   # visible, but not a link


def test_the_by_reviewer_index_lists_pending_reviews_until_they_are_decided(stack):
    from countersign.adapters.aws import DynamoReviewStore

    store = DynamoReviewStore(boto3.client("dynamodb"), stack.table)
    arn = stack.start(proposal(), unique("listed"))
    link = review_link(stack, arn, "alice")
    review_id = review_id_of_link(link)
    assert review_id in store.pending_for("alice") and review_id in store.pending_for("bob")
    assert decide(stack, link, "approve", "ok").status == 200
    assert review_id not in store.pending_for("alice") and review_id not in store.pending_for("bob")


def test_a_base64_form_body_decides_like_a_plain_one_and_a_route_the_api_lacks_is_404(stack):
    """The handler reads the proxy event itself: a body API Gateway base64-encodes (binary media
    types) is decoded, and a method/resource pair it does not serve changes nothing."""
    import base64
    from urllib.parse import urlencode

    from countersign.sandbox.api_gateway import proxy_event

    arn = stack.start(proposal(), unique("b64"))
    link = review_link(stack, arn, "bob")
    form = {"t": form_token(stack.http("GET", link).body), "decision": "approve", "rationale": "Matches the ledger."}
    url = urlsplit(decision_url(link))
    [route] = [r for r in stack.routes if r.method == "POST" and r.resource.endswith("/decision")]
    event = proxy_event(route, "POST", url.path, {"review_id": review_id_of_link(link)}, {}, "",
                        {"Host": url.netloc, "Content-Type": "application/x-www-form-urlencoded"}, "127.0.0.1")

    def invoke(**changes) -> dict:
        got = boto3.client("lambda").invoke(FunctionName=route.function, Payload=json.dumps({**event, **changes}))
        return json.loads(got["Payload"].read())

    assert invoke(httpMethod="DELETE", body=urlencode(form))["statusCode"] == 404
    assert invoke(resource="/reviews/{review_id}/other", body=urlencode(form))["statusCode"] == 404
    assert item(stack, review_id_of_link(link))["status"]["S"] == "PENDING"
    answer = invoke(body=base64.b64encode(urlencode(form).encode()).decode(), isBase64Encoded=True)
    assert answer["statusCode"] == 200 and "You approved this action" in answer["body"]
    assert json.loads(stack.wait(arn)["output"])["outcome"] == "approved"
