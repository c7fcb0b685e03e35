"""The reviewer's inbox through the deployed template's routes (real API Gateway proxy events, the
real Lambda): what it lists and in which order, a page at a time, and every refused inbox link
(forged, expired, another reviewer's, a review link used as an inbox link and the other way round)
with its status, its words and its audit record. Opening an inbox changes nothing."""
from __future__ import annotations

import html
import json
import re
import time
import uuid
from dataclasses import replace
from urllib.parse import parse_qs, quote, urlsplit

import boto3
import pytest

from countersign.adapters.aws import DynamoReviewStore
from countersign.review import links
from countersign.review.reviews import Decision, Review
from tests.helpers import decide, proposal, review_id_of, review_link, unique
from tests.lambdas.test_review_api import item, new_refusals, refusals, review_id_of_link
from tests.lambdas.threat_world import token_of
from tests.workflows.test_records import stack_mac

INBOX = re.compile(r"https?://\S+/inbox\?t=\S+")
BASE = "http://127.0.0.1:8000"


def inbox_of(stack, reviewer: str, expires_in: int = 600) -> str:
    return links.inbox_url(BASE, links.sign_inbox(stack_mac(stack), reviewer, int(time.time()) + expires_in))


def pages(stack, url: str) -> list[str]:
    """Every page of an inbox, following its "Next page" links as a reader would."""
    found = []
    while url:
        page = stack.http("GET", url)
        assert page.status == 200, page.body
        found.append(page.body)
        nxt = re.search(r'<a href="([^"]+)">Next page</a>', page.body)
        url = f"{BASE}/{html.unescape(nxt.group(1))}" if nxt else ""
    return found


def entries(page: str) -> list[str]:
    """The listed reviews of one page, as text a person reads (tags stripped)."""
    return [html.unescape(re.sub(r"<[^>]+>", "", li)).strip() for li in re.findall(r"<li>(.*?)</li>", page, re.S)]


def entry_for(bodies: list[str], summary: str) -> str:
    [found] = [e for page in bodies for e in entries(page) if summary in e]
    return found


# -- a dedicated reviewer whose inbox holds exactly the reviews made here -----------------------

@pytest.fixture(scope="module")
def ivy(stack):
    """22 pending reviews for "ivy" with chosen deadlines and risks, stored as RequestReview stores
    them, plus one whose deadline has passed and one decided: neither may be listed. Ivy is in the
    deployed registry (the desk opens no inbox for anyone else) for this module only."""
    from countersign.sandbox import lambda_runtime

    ssm, name = boto3.client("ssm"), stack.deployment.outputs["ReviewerRegistryParameterName"]
    original = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    ssm.put_parameter(Name=name, Overwrite=True, Value=json.dumps(
        [*json.loads(original), {"id": "ivy", "email": "ivy@example.com", "principals": [], "roles": [],
                                 "authority": {"risk": "critical"}, "active": True, "trained_on": None}]))
    lambda_runtime.ENV_OVERRIDES.setdefault(stack.deployment.function_name("lambdas.review_api"), {})[
        "REGISTRY_CACHE_SECONDS"] = "0"
    lambda_runtime.reset()
    arn = stack.start(proposal(), unique("ivy"))
    review_link(stack, arn)                                   # its review is stored
    store = DynamoReviewStore(boto3.client("dynamodb"), stack.table)
    template = store.get(review_id_of(stack, arn))
    now = int(time.time())

    def make(label: str, due: int, risk: str) -> Review:
        rid = "rv-" + uuid.uuid4().hex[:20]
        action = {**template.case.action, "summary": f"Ivy case {label}"}
        case = replace(template.case, review_id=rid, facts={**template.case.facts, "risk": risk},
                       proposal={**template.case.proposal, "action": action})
        review = replace(template, review_id=rid, case=case, reviewers=("ivy",), deadline=due)
        store.create(review)
        return review

    made = [make("C", now + 500, "medium"), make("A", now + 1000, "low"), make("B", now + 1000, "critical"),
            make("D", now + 2000, "high")]
    made += [make(f"F{i:02d}", now + 3000 + i, "medium") for i in range(18)]
    make("closed", now - 5, "critical")
    decided = make("decided", now + 100, "critical")
    assert store.write_vote(decided, [], Decision("approved", "ivy", "", decided.case.action, [], "2026-11-29T00:00:00Z"),
                            now)
    yield made
    ssm.put_parameter(Name=name, Value=original, Overwrite=True)


def test_the_inbox_lists_nearest_deadline_first_then_higher_risk_a_page_at_a_time(stack, ivy):
    first, second = pages(stack, inbox_of(stack, "ivy"))
    assert "You are <strong>ivy</strong> · 22 pending" in first
    shown = [re.search(r"Ivy case (\S+)", e).group(1) for e in entries(first)]
    assert shown == ["C", "B", "A", "D"] + [f"F{i:02d}" for i in range(16)]       # 20 to a page
    assert [re.search(r"Ivy case (\S+)", e).group(1) for e in entries(second)] == ["F16", "F17"]
    assert "Next page" not in second and "First page" in second
    assert "Ivy case closed" not in first + second and "Ivy case decided" not in first + second
    b = entries(first)[1]
    assert "risk critical" in b and "decide by" in b and "(written by the AI, unverified)" in b


def test_each_listed_review_opens_with_a_review_link_of_its_own(stack, ivy):
    [first, _] = pages(stack, inbox_of(stack, "ivy"))
    href = html.unescape(re.search(r'<a href="(\./reviews/[^"]+)">', first).group(1))
    page = stack.http("GET", f"{BASE}/{href[2:]}")
    assert page.status == 200 and "Ivy case C" in page.body and "you are <strong>ivy</strong>" in page.body


def test_every_review_email_carries_the_inbox_and_it_lists_the_review_with_quorum_and_tier(stack):
    arn = stack.start(proposal(action={"type": "two.person", "summary": f"Two-person case {uuid.uuid4().hex[:8]}",
                                       "parameters": {}}), unique("quorum"))
    review_id = review_id_of(stack, arn)
    email = stack.wait_for_email("alice", review_id)
    [inbox] = INBOX.findall(email.body)
    assert "Everything waiting for you, nearest deadline first:\n" + inbox in email.body and email.inbox == inbox
    summary = json.loads(stack.sfn.describe_execution(executionArn=arn)["input"])["action"]["summary"]
    assert "quorum: 0 of 2 approvals" in entry_for(pages(stack, inbox), summary)
    assert decide(stack, email.links[0], "approve", "fine").status == 200
    assert "quorum: 1 of 2 approvals (yours is counted; waiting for the others)" in entry_for(pages(stack, inbox), summary)
    bobs = INBOX.findall(stack.wait_for_email("bob", review_id).body)[0]
    assert "quorum: 1 of 2 approvals" in entry_for(pages(stack, bobs), summary)
    assert "yours is counted" not in entry_for(pages(stack, bobs), summary)

    tiered = stack.start(proposal(action={"type": "tiered.long", "summary": f"Tiered case {uuid.uuid4().hex[:8]}",
                                          "parameters": {}}), unique("tier"))
    tier_summary = json.loads(stack.sfn.describe_execution(executionArn=tiered)["input"])["action"]["summary"]
    alices = INBOX.findall(stack.wait_for_email("alice", review_id_of(stack, tiered)).body)[0]
    assert "tier 1 of 2" in entry_for(pages(stack, alices), tier_summary)


def test_opening_the_inbox_changes_nothing(stack, ivy):
    arn = stack.start(proposal(), unique("still"))
    link = review_link(stack, arn)
    before, audit_before = item(stack, review_id_of_link(link)), len(stack.audit_records("executions/"))
    url = INBOX.findall(stack.wait_for_email("alice", review_id_of_link(link)).body)[0]
    pages(stack, url)
    head = stack.http("HEAD", url)
    assert head.status == 200 and head.body == ""
    assert item(stack, review_id_of_link(link)) == before
    assert len(stack.audit_records("executions/")) == audit_before


# -- refused inbox links --------------------------------------------------------------------------

def refused(stack, url: str, status: int, words: str) -> dict:
    before = refusals(stack)
    page = stack.http("GET", url)
    assert page.status == status and words in html.unescape(page.body), page.body
    [record] = new_refusals(stack, before)
    assert record["status"] == status and record["request"]["resource"] == "/inbox"
    assert "t=" not in json.dumps(record) and "i1." not in json.dumps(record)   # the token is never audited
    return record


def with_token(url: str, token: str) -> str:
    return url.split("?", 1)[0] + "?t=" + quote(token)


def test_a_forged_inbox_link_gets_403_and_is_audited(stack):
    url = inbox_of(stack, "alice")
    token = parse_qs(urlsplit(url).query)["t"][0]
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    record = refused(stack, with_token(url, forged), 403, "inbox link signature does not match")
    assert record["actor"] == "anonymous" and record["reason"] == "inbox link signature does not match"
    assert "This link does not open an inbox" in stack.http("GET", with_token(url, forged)).body


def test_an_expired_inbox_link_gets_403_and_is_audited(stack):
    record = refused(stack, inbox_of(stack, "alice", expires_in=-1), 403, "inbox link expired")
    assert record["reason"] == "inbox link expired"


def test_another_reviewers_inbox_cannot_be_opened_by_renaming_it(stack):
    url = inbox_of(stack, "alice")
    token = parse_qs(urlsplit(url).query)["t"][0]
    refused(stack, with_token(url, token.replace("i1.alice.", "i1.bob.")), 403, "inbox link signature does not match")


def test_a_review_link_does_not_open_an_inbox_even_re_prefixed(stack):
    arn = stack.start(proposal(), unique("cross"))
    review_token = token_of(review_link(stack, arn))
    url = inbox_of(stack, "alice")
    refused(stack, with_token(url, review_token), 403, "malformed inbox link")
    _, reviewer, expires, given = review_token.split(".")
    refused(stack, with_token(url, f"i1.{reviewer}.{expires}.{given}"), 403, "inbox link signature does not match")


def test_an_inbox_link_does_not_open_a_review_even_re_prefixed(stack):
    arn = stack.start(proposal(), unique("cross"))
    link = review_link(stack, arn)
    inbox_token = parse_qs(urlsplit(inbox_of(stack, "alice")).query)["t"][0]
    for token, words in [(inbox_token, "malformed link"),
                         ("v1." + inbox_token.removeprefix("i1."), "link signature does not match this review")]:
        before = refusals(stack)
        page = stack.http("GET", with_token(link, token))
        assert page.status == 403 and words in page.body and "This link does not open a review" in page.body
        [record] = new_refusals(stack, before)
        assert record["request"]["review_id"] == review_id_of_link(link) and record["reason"] == words


def test_a_made_up_page_marker_gets_400_and_is_audited(stack, ivy):
    record = refused(stack, inbox_of(stack, "ivy") + "&after=" + quote("<script>"), 400,
                     "The page marker in the address is not one this inbox made")
    assert record["actor"] == "reviewer:ivy" and record["request"]["reviewer"] == "ivy"


def test_an_inbox_request_without_a_token_is_refused_by_the_api(stack):
    assert stack.http("GET", BASE + "/inbox").status == 400
