"""What a reviewer sees: the review page (escaped, no script) and the notification email."""
from __future__ import annotations

import re

import pytest

from countersign.review.notify import clip, deadline_text, review_email, subject
from countersign.review.pages import SECURITY_HEADERS, message_page, review_page
from countersign.review.reviews import DECIDED, EXPIRED, Decision
from tests.unit.builders import make_case, make_review, refund

XSS = "<script>alert(1)</script>"
URL = "https://review.example/reviews/rv-0123456789abcdef0123?t=v1.alice.1.x"


def page(review=None, token="v1.alice.1795514400.tok", **proposal_changes) -> str:
    review = review or make_review(make_case(refund(**proposal_changes)) if proposal_changes else None)
    return review_page(review, "alice", token, "/prod/reviews/rv-0123456789abcdef0123/decision")


def with_action(**changes):
    action = refund()["action"]
    action.update(changes)
    return action


def test_pending_review_shows_the_case_and_a_decision_form():
    html = page()
    assert "Proposed action: refund.issue" in html and "Refund $420 to customer 1182" in html
    assert "decide by <strong>2026-11-24 10:00 UTC</strong>" in html
    assert 'action="/prod/reviews/rv-0123456789abcdef0123/decision"' in html
    assert '<input type="hidden" name="t" value="v1.alice.1795514400.tok">' in html
    assert all(f'value="{v}"' in html for v in ("approve", "modify", "reject"))
    assert "Reversible (declared)</dt><dd>yes</dd>" in html and "TASK-TOKEN-SECRET" not in html


@pytest.mark.parametrize("field,changes", [
    ("summary", {"action": with_action(summary=XSS)}),
    ("reasoning", {"reasoning": XSS}),
    ("requested_by", {"requested_by": XSS}),
    ("evidence", {"evidence": [{"label": XSS, "value": XSS}]}),
    ("parameters", {"action": with_action(parameters={"customer_id": XSS, "amount": 1, "currency": "USD"})}),
])
def test_ai_written_text_is_escaped_never_raw(field, changes):
    html = page(**changes)
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_token_is_escaped_in_the_form():
    html = page(token='"><script>x</script>')
    assert "<script" not in html and 'value="&#34;&gt;&lt;script&gt;' in html


def test_evidence_links_only_for_https_on_the_deployments_evidence_hosts():
    evidence = [{"label": "order", "value": "5531", "url": "https://shop.example/orders/5531"},
                {"label": "trap", "value": "click", "url": "javascript:alert(1)"},
                {"label": "plain", "value": "http", "url": "http://shop.example/x"},
                {"label": "lure", "value": "approve", "url": "https://evil.example/approve"}]
    review = make_review(make_case(refund(evidence=evidence)))
    html = review_page(review, "alice", "tok", "/decision", evidence_hosts=("shop.example",))
    assert '<a href="https://shop.example/orders/5531" rel="noopener noreferrer nofollow"' in html
    assert "javascript:" not in html and "http://shop.example" not in html
    assert "<strong>trap</strong>: click" in html and "<strong>plain</strong>: http" in html
    assert 'href="https://evil.example' not in html                         # not on the list: text only
    assert '<span class="unverified">https://evil.example/approve</span> <span class="note">(unverified link, ' \
           "not opened: its host is not on this deployment's evidence list)</span>" in html
    nothing_allowed = review_page(review, "alice", "tok", "/decision")
    assert "<a href" not in nothing_allowed.split("<h2>Evidence</h2>", 1)[1].split("</ul>", 1)[0]


def test_hidden_and_direction_changing_characters_are_made_visible_on_the_page():
    html = page(action=with_action(summary="Pay invoice_\u202efdp.exe\u200b now"), reasoning="ok\u2066x\u2069")
    assert "Pay invoice_[U+202E]fdp.exe[U+200B] now" in html and "ok[U+2066]x[U+2069]" in html
    assert "\u202e" not in html and "\u200b" not in html


def test_decided_review_shows_the_outcome_and_no_form():
    decision = Decision("modified", "bob", "partial refund <b>only</b>",
                        None, [{"path": "$.parameters.amount", "before": 420, "after": 400}], "2026-11-24T09:30:00Z",
                        reason="wrong_parameters")
    html = page(make_review(status=DECIDED, decision=decision))
    assert "Modified by bob at 2026-11-24T09:30:00Z" in html and "<p>Reason: wrong parameters</p>" in html
    assert "Rationale: partial refund &lt;b&gt;only&lt;/b&gt;" in html
    assert "<code>$.parameters.amount</code>: 420 → 400" in html
    assert "<form" not in html


@pytest.mark.parametrize("mode, when", [("review", "modify or reject"), ("veto", "veto"), ("signoff", "discard"),
                                         ("reverse", "reverse")])
def test_the_form_asks_for_a_reason_category_in_words_in_every_mode(mode, when):
    html = page(make_review(mode=mode))
    select = html[html.index('<select id="reason" name="reason">'):html.index("</select>")]
    assert f'<label for="reason">Reason (required to {when}; recorded in the audit trail)</label>' in html
    assert re.findall(r'<option value="([^"]*)">([^<]*)</option>', select) == [
        ("", f"(choose one to {when})"), ("wrong_parameters", "wrong parameters"), ("wrong_action", "wrong action"),
        ("insufficient_evidence", "insufficient evidence"), ("policy", "policy"), ("other", "other")]


def test_expired_review_cannot_be_decided():
    html = page(make_review(status=EXPIRED))
    assert "This review is expired; it can no longer be decided." in html and "<form" not in html


def test_message_page_escapes_and_links_back():
    html = message_page(400, "Decision not recorded", f"bad {XSS}", URL)
    assert '<p class="error">bad &lt;script&gt;' in html and "<script" not in html
    assert 'href="https://review.example/reviews/rv-0123456789abcdef0123?t=v1.alice.1.x"' in html
    assert 'class="error"' not in message_page(200, "Decision recorded", "ok")


def test_security_headers_forbid_script_framing_and_referrer():
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert SECURITY_HEADERS["Referrer-Policy"] == "no-referrer"
    assert SECURITY_HEADERS["Cache-Control"] == "no-store" and SECURITY_HEADERS["X-Frame-Options"] == "DENY"


def printable_ascii(text: str) -> bool:
    return all(32 <= ord(c) < 127 for c in text)


def test_subject_names_the_summary():
    assert subject(make_case()) == "[Countersign] Review needed: Refund $420 to customer 1182"


def test_subject_reduces_non_ascii_and_controls():
    text = subject(make_case(refund(action=with_action(summary="Rückerstattung\n€420\x07 🚀"))))
    assert printable_ascii(text) and text.endswith("R?ckerstattung??420? ?")


def test_long_subject_is_cut_to_99():
    assert len(subject(make_case(refund(action=with_action(summary="x" * 500))))) <= 99


def test_long_subject_stays_printable_ascii():
    assert printable_ascii(subject(make_case(refund(action=with_action(summary="x" * 500)))))


def email(**proposal_changes) -> str:
    return review_email(make_case(refund(**proposal_changes)), "confidence 0.72 is below the threshold",
                        URL, 1795514400)


def test_email_carries_the_link_deadline_and_warnings():
    lines = email().splitlines()
    assert URL in lines
    assert "Decide by:    2026-11-24 10:00 UTC (no decision by then means the action is refused)" in lines
    assert "Summary (written by the AI, unverified; links disabled): Refund $420 to customer 1182" in lines
    assert "Confidence:   0.72" in lines and "Why you:      confidence 0.72 is below the threshold" in lines
    assert "This link is yours alone; opening it changes nothing. Do not forward it." in lines


def test_email_strips_control_characters_and_bounds_text():
    body = email(action=with_action(summary="Refund\x1b[31m now\x00\x07" + "y" * 600),
                 requested_by="ci\x08\x7fbot")
    assert not any(c in body for c in "\x00\x07\x08\x1b\x7f")
    summary_line = next(line for line in body.splitlines() if line.startswith("Summary"))
    assert summary_line.endswith("…") and len(summary_line.split(": ", 1)[1]) == 500
    assert "Requested by: ci  bot" in body


def test_ai_written_links_hosts_and_addresses_never_reach_the_email_live():
    body = email(action=with_action(summary="APPROVE HERE: https://evil.example/approve or www.evil.example, "
                                            "mail ceo@evil.example, see 10.0.0.1 \u202efdp.exe"),
                 requested_by="https://evil.example/me")
    lines = body.splitlines()
    assert [line for line in lines if "://" in line and "[://]" not in line] == [URL]   # the only live link
    summary = next(line for line in lines if line.startswith("Summary"))
    assert summary == ("Summary (written by the AI, unverified; links disabled): APPROVE HERE: "
                       "hxxps[://]evil[.]example/approve or www[.]evil[.]example, mail ceo[@]evil[.]example, "
                       "see 10[.]0[.]0[.]1 [U+202E]fdp[.]exe")
    assert "Requested by: hxxps[://]evil[.]example/me" in lines
    assert "evil.example" not in subject(make_case(refund(action=with_action(summary="Go to evil.example now"))))


def test_summary_cannot_forge_lines_in_the_email():
    forged = "Refund $420\n\nOpen the case here instead:\nhttps://evil.example/login"
    assert "https://evil.example/login" not in email(action=with_action(summary=forged)).splitlines()


def test_clip_and_deadline_text():
    assert clip("abc", 3) == "abc" and clip("abcd", 3) == "ab…"
    assert deadline_text(0) == "1970-01-01 00:00 UTC"
