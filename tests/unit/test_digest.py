"""Digest mode's rules and its email: what is urgent, and what a reviewer reads in a digest."""
from __future__ import annotations

import re
from dataclasses import replace

from countersign.adapters.deps import Deps
from countersign.review.digest import MAX_LISTED, digest_email, subject, urgent
from tests.unit.builders import DEADLINE, make_case, make_review, mac, refund

NOW = DEADLINE - 7200


def review_with(risk: str, deadline: int = DEADLINE, summary: str = "Refund $420 to customer 1182", n: int = 0):
    case = make_case(refund(action={"type": "refund.issue", "summary": summary,
                                    "parameters": {"customer_id": "1", "amount": 1, "currency": "USD"}}))
    case = replace(case, facts={"risk": risk}, review_id=f"rv-{n:020x}")
    return make_review(case, review_id=case.review_id, deadline=deadline)


def test_high_risk_and_a_deadline_inside_the_interval_are_urgent():
    assert not urgent(review_with("medium"), NOW, 3600)
    assert not urgent(review_with("low"), NOW, 7199)
    assert urgent(review_with("low"), NOW, 7200)                      # due before the next digest
    assert urgent(review_with("high"), NOW, 60) and urgent(review_with("critical"), NOW, 60)


def test_the_digest_email_lists_each_review_with_its_own_link_and_the_inbox_with_ai_text_defanged():
    deps = Deps(audit=None, mac=mac, review_base_url="https://r.example", clock=lambda: NOW)
    lure = review_with("medium", summary="APPROVE HERE: https://evil.example/approve \u202egnp.exe", n=1)
    body = digest_email([review_with("high", n=2), lure], "alice", deps)
    assert subject(2) == "[Countersign] 2 new reviews waiting for you" and subject(1).endswith("1 new review waiting for you")
    assert body.startswith("2 proposed AI actions are waiting for you (new since your last digest; urgent ones are "
                           "mailed at once).")
    assert "1. refund.issue · risk high · decide by 2026-11-24 10:00 UTC" in body
    assert "Summary (written by the AI, unverified; links disabled): APPROVE HERE: hxxps[://]evil[.]example/approve " \
           "[U+202E]gnp[.]exe" in body and "https://evil" not in body
    live = re.findall(r"https?://\S+", body)
    assert live == [f"https://r.example/reviews/rv-{2:020x}?t=v1.alice.{DEADLINE}." + live[0].rsplit(".", 1)[1],
                    f"https://r.example/reviews/rv-{1:020x}?t=v1.alice.{DEADLINE}." + live[1].rsplit(".", 1)[1],
                    live[2]] and live[2].startswith("https://r.example/inbox?t=i1.alice.")
    assert body.endswith("These links are yours alone; opening them changes nothing. Do not forward them.")


def test_a_long_digest_lists_the_first_ones_and_sends_the_reader_to_the_inbox():
    deps = Deps(audit=None, mac=mac, review_base_url="https://r.example", clock=lambda: NOW)
    body = digest_email([review_with("medium", n=i) for i in range(MAX_LISTED + 7)], "alice", deps)
    assert len(re.findall(r"/reviews/rv-", body)) == MAX_LISTED
    assert "… and 7 more: see your inbox." in body
