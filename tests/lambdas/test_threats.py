"""The threat corpus: hostile requests against the review desk, one table. Each case goes through
the deployed template's routes as real API Gateway proxy events (the sandbox's front), and asserts
three things: the HTTP status, the words the person sees (page or email), and the audit record
(or that nothing was written, for what API Gateway answers itself or a GET that changes nothing)."""
from __future__ import annotations

import time

import pytest
from markupsafe import escape

from tests.faults.conftest import deps, review_item
from tests.helpers import decision_url, proposal, review_link, unique
from tests.lambdas.threat_world import (HOST, MAT, NOTHING, Recorded, Refused, Threat, World, field_swapped,
                                        inbox_with, review_of, signed, token_of, with_token)
from tests.workflows.test_escalation import emails_about, wait_for


# --- the cases ---------------------------------------------------------------------------------

def forged(w):
    return w.get(with_token(w.pending(), field_swapped(token_of(w.pending()), 3, "A" * 43)))


def replayed(w, **second):
    link = w.fresh()
    form = w.form(link, decision="reject", rationale="Not a duplicate.")
    assert w.post(link, form).status == 200
    return w.post(link, {**form, **second})


def after_the_decision_by_another(w):
    alice, bob = w.fresh("alice"), review_link(w.stack, w.arn, "bob")
    bobs = w.form(bob, decision="reject", rationale="No.")          # bob opened the case earlier
    assert w.decide(alice).status == 200
    return w.post(bob, bobs)


def own_form(origin: str):
    """The review page's form, as a browser sends it from the page: Chromium sends ``Origin: null``
    there (the page's referrer policy is no-referrer), and ``Sec-Fetch-Site: same-origin``."""
    def send(w):
        link = w.fresh()
        return w.post(link, w.form(link), **{"Origin": origin, "Sec-Fetch-Site": "same-origin"})
    return send


def self_approval(spelling: str):
    return lambda w: w.decide(w.fresh(requested_by=spelling))


def quorum_double_vote(w):
    link = w.fresh(confidence=0.99, reversible=False, action={"type": "two.person", "summary": "Rotate the key", "parameters": {}})
    assert w.decide(link).status == 200
    return w.decide(link)


def after_the_deadline(w):
    link = w.fresh(action={"type": "quick.timeout", "summary": "Refund quickly", "parameters": {}})
    form = w.form(link)
    assert w.stack.wait(w.arn)["status"] == "SUCCEEDED"             # expired: the deadline passed
    return w.post(link, form)


def lost_to_the_timer(w):
    link = w.fresh()
    form = w.form(link)
    deps(w.stack, "lambdas.conclude").reviews.expire(review_of(link))   # the timer's write won
    return w.post(link, form)


@pytest.fixture(scope="module")
def escalated(stack):
    """A review escalated from tier 1 (alice) to tier 2 (bob, carol): (alice's tier-1 link and form,
    tier 2's review id)."""
    tiered = {"type": "tiered.change", "summary": "Open port 22 to the partner", "parameters": {}}
    arn = stack.start(proposal(confidence=0.99, reversible=False, action=tiered), unique("threat-tiers"))
    alice = review_link(stack, arn, "alice")
    form = World(stack).form(alice)
    bob = wait_for(lambda: emails_about(stack, arn, "bob"), timeout=15)[0].links[0]
    return arn, alice, form, review_of(bob)


def tier_one_form_after_escalation(w):
    arn, alice, form, _ = w.escalated
    w.arn = arn
    return w.post(alice, form)


def tier_one_reviewer_on_tier_two(w):
    arn, alice, _, tier2 = w.escalated
    w.arn = arn
    return w.get(with_token(alice, signed(w.stack, tier2, "alice", int(time.time()) + 600), tier2))


HTML = '"><img src=x onerror=alert(1)>'
SCRIPT = "</pre><script>alert(1)</script>"
MARKDOWN = "[Approve now](https://evil.example/approve) **urgent**"
JINJA = "{{ 'pw' ~ 'ned' }}{% if true %}pwned{% endif %}"
TEMPLATES = "${'pw'+'ned'} <%= 'pw' + 'ned' %> #{'pw'+'ned'}"


def hostile(payload: str):
    """The payload in every AI-written field; the case opens the page."""
    def send(w):
        link = w.fresh(action={"type": "refund.issue", "summary": f"Refund {payload}",
                               "parameters": {"customer_id": payload, "amount": 5, "currency": "USD"}},
                       reasoning=payload, requested_by=f"agent {payload}", model={"id": payload, "version": "1"},
                       evidence=[{"label": payload, "value": payload, "url": "https://evil.example/x"}])
        return w.get(link)
    return send


def escaped(payload: str) -> tuple[str, ...]:
    return (f"Refund {escape(payload)}", f"agent {escape(payload)}", str(escape(payload)))


def proposal_kept(payload: str) -> Recorded:
    """The trail keeps what the AI wrote exactly, as evidence."""
    return Recorded("proposal_received", test=lambda r: r["proposal"]["reasoning"] == payload
                    and r["proposal"]["action"]["summary"] == f"Refund {payload}")


APPROVED = Recorded("decision_recorded", {"reviewer": "alice", "decision": "approved"})
OTHER_SITE = "sent from another site, so it was not recorded"
BIG = "x" * (128 * 1024)

THREATS = [
    # tokens
    Threat("forged signature (GET)", forged, 403, ("This link does not open a review",
           "link signature does not match this review"), Refused(403, "signature")),
    Threat("forged signature (POST)", lambda w: w.post(w.pending(), {**w.form(w.pending()), "t": field_swapped(
           token_of(w.pending()), 3, "B" * 43)}), 403, ("Decision refused", "signature"), Refused(403, "signature")),
    Threat("tampered reviewer field", lambda w: w.get(with_token(w.pending(), field_swapped(
           token_of(w.pending()), 1, "bob"))), 403, ("signature does not match",), Refused(403, "signature")),
    Threat("tampered expiry field", lambda w: w.get(with_token(w.pending(), field_swapped(
           token_of(w.pending()), 2, str(int(time.time()) + 86400 * 365)))), 403, ("signature does not match",),
           Refused(403, "signature")),
    Threat("tampered MAC (POST)", lambda w: w.post(w.pending(), w.form(w.pending(), t=token_of(w.pending())[:-1] + (
           "A" if not token_of(w.pending()).endswith("A") else "B"))), 403, ("signature does not match",),
           Refused(403, "signature")),
    Threat("tampered version", lambda w: w.get(with_token(w.pending(), "v2" + token_of(w.pending())[2:])), 403,
           ("malformed link",), Refused(403, "malformed")),
    Threat("truncated token", lambda w: w.get(with_token(w.pending(), token_of(w.pending())[:-5])), 403,
           ("malformed link",), Refused(403, "malformed")),
    Threat("tampered review id in the path", lambda w: w.get(with_token(w.pending(), token_of(w.pending()),
           "rv-" + "0" * 20)), 403, ("signature does not match",),
           Refused(403, "signature", request={"review_id": "rv-" + "0" * 20})),
    Threat("malformed review id in the path", lambda w: w.get(with_token(w.pending(), token_of(w.pending()),
           "rv-..%2f..%2fadmin")), 403, ("malformed link",), Refused(403, "malformed", request={"review_id": None})),
    Threat("genuine token of an unassigned reviewer", lambda w: w.get(with_token(w.pending(), signed(
           w.stack, review_of(w.pending()), "mallory", int(time.time()) + 600))), 403,
           ("does not grant access to that review",),
           Refused(403, "does not grant access", "reviewer:mallory", {"refusal": "outside_assignment"})),
    Threat("expired token (GET)", lambda w: w.get(with_token(w.pending(), signed(
           w.stack, review_of(w.pending()), "alice", int(time.time()) - 1))), 403, ("link expired",),
           Refused(403, "expired")),
    Threat("expired token (POST)", lambda w: w.post(w.pending(), w.form(w.pending(), t=signed(
           w.stack, review_of(w.pending()), "alice", int(time.time()) - 1))), 403, ("link expired",),
           Refused(403, "expired")),
    Threat("no token (GET)", lambda w: w.get(w.pending().split("?")[0]), 400,
           ("Missing required request parameters: [t]",), NOTHING),
    Threat("no token in the form (POST)", lambda w: w.post(w.pending(), w.form(w.pending(), t=None)), 403,
           ("malformed link",), Refused(403, "malformed")),
    Threat("review X's token on review Y (GET)", lambda w: w.get(with_token(
           w.pending("alice", "y"), token_of(w.pending()), review_of(w.pending("alice", "y")))), 403,
           ("signature does not match",), Refused(403, "signature")),
    Threat("review X's token on review Y (POST)", lambda w: w.post(w.pending("alice", "y"), w.form(
           w.pending(), decision="reject", rationale="no")), 403, ("signature does not match",),
           Refused(403, "signature")),
    Threat("a review link's token on the inbox", lambda w: w.get(inbox_with(token_of(w.pending()))), 403,
           ("This link does not open an inbox", "malformed inbox link"),
           Refused(403, "malformed inbox link", request={"resource": "/inbox"})),
    Threat("a review link's token re-prefixed for the inbox", lambda w: w.get(inbox_with(
           "i1." + token_of(w.pending()).split(".", 1)[1])), 403, ("This link does not open an inbox",
           "inbox link signature does not match"), Refused(403, "inbox link signature", request={"resource": "/inbox"})),
    Threat("an inbox token on a review", lambda w: w.get(with_token(w.pending(), token_of(w.inbox()))), 403,
           ("This link does not open a review", "malformed link"), Refused(403, "malformed")),
    Threat("an inbox token re-prefixed as a review link's", lambda w: w.get(with_token(
           w.pending(), "v1.alice." + token_of(w.inbox()).split(".", 2)[2])), 403,
           ("link signature does not match this review",), Refused(403, "signature")),
    Threat("reviewer A's token posted as reviewer B", lambda w: w.decide(w.fresh(), reviewer="bob"), 200,
           ("Decision recorded", "You approved this action"), APPROVED),
    Threat("replayed after the decision", lambda w: replayed(w), 200, ("It was already recorded",),
           Recorded("decision_recorded", {"reviewer": "alice", "decision": "rejected"})),
    Threat("replayed after the decision with another choice", lambda w: replayed(w, decision="approve"), 409,
           ("another decision on this review was recorded first", "yours was not recorded"),
           Refused(409, "recorded first", "reviewer:alice", stands="rejected")),
    Threat("another reviewer's open page after the decision", after_the_decision_by_another, 409,
           ("recorded first",), Refused(409, "recorded first", "reviewer:bob", stands="approved")),
    # requests
    Threat("HEAD from a mail scanner", lambda w: w.get(w.pending(), "HEAD", **{"User-Agent": "Mimecast"}), 200,
           (), NOTHING),
    Threat("GET from a link scanner", lambda w: w.get(w.pending(), **{"User-Agent": "Barracuda-LinkProtect"}), 200,
           ("Refund $420 to customer 1182", "Approve"), NOTHING),
    Threat("OPTIONS preflight from another site", lambda w: w.get(decision_url(w.pending()), "OPTIONS", **{
           "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}), 403, (MAT,), NOTHING),
    Threat("OPTIONS on the review page", lambda w: w.get(w.pending(), "OPTIONS"), 403, (MAT,), NOTHING),
    Threat("PUT on the decision", lambda w: w.stack.http("PUT", decision_url(w.pending()), w.form(w.pending())), 403,
           (MAT,), NOTHING),
    Threat("GET on the decision", lambda w: w.get(decision_url(w.pending())), 403, (MAT,), NOTHING),
    Threat("no decision field", lambda w: w.post(w.pending(), w.form(w.pending(), decision=None)), 400,
           ("choose approve, modify or reject",), Refused(400, "choose approve", "reviewer:alice")),
    Threat("reject without a rationale", lambda w: w.post(w.pending(), w.form(w.pending(), decision="reject",
           rationale=None)), 400, ("a rationale is required to reject",), Refused(400, "rationale", "reviewer:alice")),
    Threat("duplicate decision fields", lambda w: w.post(w.pending(), [*w.form(w.pending()).items(),
           ("decision", "reject")]), 400, ("the form sends decision more than once",),
           Refused(400, "decision more than once")),
    Threat("two tokens in one form", lambda w: w.post(w.pending(), [*w.form(w.pending()).items(),
           ("t", token_of(w.pending("bob")))]), 400, ("the form sends t more than once",),
           Refused(400, "t more than once")),
    Threat("extra fields on an approval change nothing", lambda w: w.decide(w.fresh(), parameters=(
           '{"customer_id": "1182", "amount": 9999, "currency": "USD"}'), final_action="x", outcome="modified"), 200,
           ("You approved this action",), Recorded("decision_recorded", {"decision": "approved", "diff": []},
                                                    lambda r: r["final_action"]["parameters"]["amount"] == 420)),
    Threat("oversize body", lambda w: w.post(w.pending(), w.form(w.pending(), rationale=BIG)), 413,
           ("larger than 128 KiB",), Refused(413, "128 KiB")),
    Threat("rationale over its limit", lambda w: w.post(w.pending(), w.form(w.pending(), rationale="x" * 4001)),
           400, ("limited to 4000 characters",), Refused(400, "4000", "reviewer:alice")),
    Threat("JSON body", lambda w: w.stack.http("POST", decision_url(w.pending()), body='{"decision": "approve"}',
           headers={"Content-Type": "application/json"}), 415, ("application/x-www-form-urlencoded",),
           Refused(415, "form sent as")),
    Threat("text/plain form (a cross-site form's simple enctype)", lambda w: w.post(w.pending(), w.form(
           w.pending()), "text/plain"), 415, ("application/x-www-form-urlencoded",), Refused(415, "form sent as")),
    Threat("multipart form", lambda w: w.post(w.pending(), w.form(w.pending()), "multipart/form-data; boundary=x"),
           415, ("application/x-www-form-urlencoded",), Refused(415, "form sent as")),
    Threat("no content type", lambda w: w.post(w.pending(), w.form(w.pending()), None), 415,
           ("application/x-www-form-urlencoded",), Refused(415, "form sent as")),
    # cross-site POSTs (the review stays pending: see the test)
    Threat("cross-site POST (Origin of another site)", lambda w: w.post(w.pending(), w.form(w.pending()), Origin=(
           "https://evil.example")), 403, (OTHER_SITE, "decide on the review page itself"),
           Refused(403, "another site", request={"origin": "https://evil.example"})),
    Threat("cross-site POST (Sec-Fetch-Site only)", lambda w: w.post(w.pending(), w.form(w.pending()), **{
           "Sec-Fetch-Site": "cross-site"}), 403, (OTHER_SITE,), Refused(403, "another site",
                                                                         request={"fetch_site": "cross-site"})),
    Threat("cross-site POST from a sandboxed frame (Origin null)", lambda w: w.post(w.pending(), w.form(
           w.pending()), **{"Origin": "null", "Sec-Fetch-Site": "cross-site"}), 403, (OTHER_SITE,),
           Refused(403, "another site", request={"origin": "null", "fetch_site": "cross-site"})),
    Threat("Origin null from a browser that names no site", lambda w: w.post(w.pending(), w.form(w.pending()),
           Origin="null"), 403, (OTHER_SITE,), Refused(403, "another site", request={"origin": "null"})),
    Threat("an Origin of another site on a same-origin claim", lambda w: w.post(w.pending(), w.form(w.pending()), **{
           "Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"}), 403, (OTHER_SITE,),
           Refused(403, "another site")),
    Threat("same-site POST from a sibling subdomain", lambda w: w.post(w.pending(), w.form(w.pending()), **{
           "Origin": "https://attacker.127.0.0.1", "Sec-Fetch-Site": "same-site"}), 403, (OTHER_SITE,),
           Refused(403, "another site")),
    Threat("the review page's own form (as Chromium sends it)", own_form("null"), 200,
           ("You approved this action",), APPROVED),
    Threat("the review page's own origin", own_form(f"http://{HOST}"), 200, ("You approved this action",), APPROVED),
    Threat("a client that is no browser (no Origin)", lambda w: w.decide(w.fresh()), 200,
           ("You approved this action",), APPROVED),
    # content: HTML, JS, markdown and template syntax in every AI-written field
    Threat("HTML in every AI-written field", hostile(HTML), 200, escaped(HTML), proposal_kept(HTML),
           hides=("<img src=x",), mail=(f"Refund {HTML}", f"agent {HTML}")),
    Threat("script in every AI-written field", hostile(SCRIPT), 200, escaped(SCRIPT), proposal_kept(SCRIPT),
           hides=("<script>alert",), mail=(f"Refund {SCRIPT}",)),
    Threat("markdown in every AI-written field", hostile(MARKDOWN), 200, escaped(MARKDOWN), proposal_kept(MARKDOWN),
           hides=('href="https://evil.example',), mail=("[Approve now](hxxps[://]evil[.]example/approve)",),
           mail_hides=("https://evil.example",)),
    Threat("Jinja syntax in every AI-written field", hostile(JINJA), 200, escaped(JINJA), proposal_kept(JINJA),
           hides=("pwnedpwned",), mail=(f"Refund {JINJA}",), mail_hides=("pwnedpwned",)),
    Threat("other template syntax in every AI-written field", hostile(TEMPLATES), 200, escaped(TEMPLATES),
           proposal_kept(TEMPLATES), hides=("pwned",), mail=(f"Refund {TEMPLATES}",), mail_hides=("pwned",)),
    # authority
    *[Threat(f"self-approval as {spelling!r}", self_approval(spelling), 403,
             ("you proposed this action, so you cannot approve it",), Refused(403, "you proposed", "reviewer:alice"))
      for spelling in ("Alice", " alice", "alice@example.com", "user:reviewer:alice", "ALICE@EXAMPLE.COM")],
    Threat("quorum: the same reviewer approves twice", quorum_double_vote, 200,
           ("already recorded; one reviewer never counts twice", "1 of 2 approvals"),
           Recorded("vote_recorded", {"reviewer": "alice", "approvals": 1, "quorum": 2})),
    Threat("a decision after the deadline", after_the_deadline, 403, ("link expired",),
           Refused(403, "expired")),
    Threat("a decision that lost to the timer", lost_to_the_timer, 409, ("the review window closed",
           "it was not recorded"), Recorded("late_decision", {"reviewer": "alice", "status": 409})),
    Threat("tier 1's form after tier 2 took over", tier_one_form_after_escalation, 403, ("link expired",),
           Refused(403, "expired")),
    Threat("a tier-1 reviewer on tier 2's review", tier_one_reviewer_on_tier_two, 403,
           ("does not grant access to that review",),
           Refused(403, "does not grant access", "reviewer:alice", {"refusal": "outside_assignment"})),
]


@pytest.fixture(scope="module")
def world(stack, escalated):
    w = World(stack)
    w.escalated = escalated
    return w


def refusals_today(stack) -> set[str]:
    return set(stack.audit.list_keys(f"refusals/{time.strftime('%Y/%m/%d', time.gmtime())}/"))


def trail_of(stack, arn: str) -> list[dict]:
    return stack.execution_records(arn) if arn else []


@pytest.mark.parametrize("threat", THREATS, ids=[t.name for t in THREATS])
def test_the_threat_corpus(stack, world, threat):
    refused_before, arn_before = refusals_today(stack), world.arn
    trail_before = {r["hash"] for r in trail_of(stack, arn_before)}
    answer = threat.send(world)

    assert answer.status == threat.status, answer.body[:500]
    assert all(words in answer.body for words in threat.shows), answer.body
    assert not any(words in answer.body for words in threat.hides), answer.body
    if threat.status >= 400:
        assert "<form" not in answer.body                    # a refusal never offers a form

    refusals = stack.read(sorted(refusals_today(stack) - refused_before))
    seen = trail_before if world.arn == arn_before else set()
    trail = [r for r in trail_of(stack, world.arn) if r["hash"] not in seen]
    if not isinstance(threat.audit, Recorded):               # a fresh review's own opening records aside
        trail = [r for r in trail if r["event"] not in ("proposal_received", "review_requested")]
    threat.audit.check(refusals, trail)

    if threat.mail or threat.mail_hides:
        [email] = emails_about(stack, world.arn, "alice")
        assert all(words in email.body for words in threat.mail), email.body
        assert not any(words in email.body for words in threat.mail_hides), email.body
    for _, found in world._pending.values():                 # refusals leave the shared reviews pending
        assert review_item(stack, review_of(found["alice"]))["status"]["S"] == "PENDING"


def test_the_corpus_has_at_least_forty_cases():
    assert len(THREATS) >= 40 and len({t.name for t in THREATS}) == len(THREATS)
