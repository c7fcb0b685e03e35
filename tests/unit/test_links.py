"""Signed review links: what a genuine link grants and how every forged, stale or broken one is refused."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from countersign.workflow.case import Execution
from countersign.review.links import Grant, LinkRefused, review_url, sign, valid_review_id, verify
from tests.unit.builders import REVIEW_ID, mac

EXPIRES = 2_000_000_000
NOW = EXPIRES - 3600


def token(reviewer: str = "alice", expires_at: int = EXPIRES, review_id: str = REVIEW_ID) -> str:
    return sign(mac, review_id, reviewer, expires_at)


def refused(review_id: str, tok, now: float = NOW, key_mac=mac) -> str:
    with pytest.raises(LinkRefused) as caught:
        verify(key_mac, review_id, tok, now=now)
    return str(caught.value)


def test_round_trip_grants_the_signed_reviewer_until_expiry():
    assert verify(mac, REVIEW_ID, token(), now=NOW) == Grant(REVIEW_ID, "alice", EXPIRES)


def test_token_names_reviewer_and_expiry_but_not_the_review():
    tok = token()
    assert tok.startswith(f"v1.alice.{EXPIRES}.")
    assert REVIEW_ID not in tok


def test_tampered_mac_is_refused():
    tok = token()
    forged = tok[:-1] + ("A" if tok[-1] != "A" else "B")
    assert refused(REVIEW_ID, forged) == "link signature does not match this review"


def test_link_for_another_review_is_refused():
    assert refused("rv-ffffffffffffffffffff", token()) == "link signature does not match this review"


def test_swapping_the_reviewer_is_refused():
    forged = token("alice").replace("v1.alice.", "v1.bob.", 1)
    assert refused(REVIEW_ID, forged) == "link signature does not match this review"


def test_extending_the_expiry_is_refused():
    forged = token().replace(f".{EXPIRES}.", f".{EXPIRES + 86400}.", 1)
    assert refused(REVIEW_ID, forged) == "link signature does not match this review"


def test_link_signed_with_another_key_is_refused():
    other = lambda message: mac(message, key=b"another-key")  # noqa: E731
    assert refused(REVIEW_ID, token(), key_mac=other) == "link signature does not match this review"


@pytest.mark.parametrize("now", [EXPIRES, EXPIRES + 1])
def test_expired_link_is_refused(now):
    assert refused(REVIEW_ID, token(), now=now) == "link expired"


def test_link_is_valid_until_the_last_second():
    assert verify(mac, REVIEW_ID, token(), now=EXPIRES - 0.001).reviewer == "alice"


@pytest.mark.parametrize("tok", [
    None, "", "garbage", "v2" + token()[2:], token() + "x", token()[:-1],
    token().replace("alice", "Alice"), "v1.alice.notanumber." + "A" * 43,
])
def test_malformed_tokens_are_refused(tok):
    assert refused(REVIEW_ID, tok) == "malformed link"


@pytest.mark.parametrize("review_id", ["", "rv-XYZ", "rv-0123", "../admin", REVIEW_ID + "0"])
def test_malformed_review_ids_are_refused(review_id):
    assert refused(review_id, token()) == "malformed link"


def test_refusal_is_a_permission_error():
    assert issubclass(LinkRefused, PermissionError)


def test_review_url_quotes_the_token_and_round_trips():
    tok = token()
    url = review_url("https://review.example/prod/", REVIEW_ID, tok)
    assert url.startswith(f"https://review.example/prod/reviews/{REVIEW_ID}?t=")
    assert parse_qs(urlsplit(url).query)["t"] == [tok]
    odd = review_url("https://review.example", REVIEW_ID, "a b&c=d")
    assert odd.endswith("?t=a%20b%26c%3Dd")


def test_review_ids_are_valid_stable_per_tier_and_unique_per_execution():
    arn = "arn:aws:states:us-east-1:123456789012:execution:gate:"
    runs = [Execution(f"{arn}run-{i}", f"run-{i}", "2026-11-29T10:00:00Z") for i in range(25)]
    ids = {run.review_id(tier) for run in runs for tier in (0, 1)}
    assert len(ids) == 50 and all(valid_review_id(i) for i in ids)
    again = Execution(f"{arn}run-0", "run-0", "2026-11-29T10:00:00Z")
    assert again.review_id(1) == runs[0].review_id(1)        # a retried step derives the same review
    reused = Execution(f"{arn}run-0", "run-0", "2027-03-01T00:00:00Z")
    assert reused.review_id(0) != runs[0].review_id(0)       # a name reused after 90 days is another review


def inbox_refused(tok, now: float = NOW, key_mac=mac) -> str:
    from countersign.review.links import verify_inbox

    with pytest.raises(LinkRefused) as caught:
        verify_inbox(key_mac, tok, now=now)
    return str(caught.value)


def test_an_inbox_link_opens_its_reviewers_inbox_until_it_expires_and_nothing_else():
    from countersign.review.links import inbox_url, sign_inbox, verify_inbox

    inbox = sign_inbox(mac, "alice", EXPIRES)
    assert verify_inbox(mac, inbox, now=NOW) == Grant("", "alice", EXPIRES)
    assert parse_qs(urlsplit(inbox_url("https://r.example/review/", inbox)).query)["t"] == [inbox]
    assert inbox_refused(inbox, now=EXPIRES) == "inbox link expired"
    assert inbox_refused(inbox.replace(".alice.", ".bob.")) == "inbox link signature does not match"
    assert inbox_refused(sign_inbox(lambda m: mac(m, b"other key"), "alice", EXPIRES)) == \
        "inbox link signature does not match"
    # the two kinds are domain-separated: neither opens the other, even with the prefix swapped
    assert inbox_refused(token()) == "malformed inbox link"
    assert inbox_refused("i1." + token().removeprefix("v1.")) == "inbox link signature does not match"
    assert refused(REVIEW_ID, inbox) == "malformed link"
    assert refused(REVIEW_ID, "v1." + inbox.removeprefix("i1.")) == "link signature does not match this review"


def test_the_emailed_inbox_link_lasts_seven_to_eight_days_and_is_signed_once_per_reviewer_and_day():
    from countersign.review.links import emailed_inbox, verify_inbox

    calls = []

    def counting(message: bytes) -> bytes:
        calls.append(message)
        return mac(message)

    day = 1_795_478_400                                  # 2026-11-24 00:00 UTC
    morning, expires = emailed_inbox(counting, "https://r.example", "alice", day + 60)
    evening, later = emailed_inbox(counting, "https://r.example", "alice", day + 86_000)
    assert morning == evening and expires == later == day + 8 * 86_400 and len(calls) == 1
    assert emailed_inbox(counting, "https://r.example", "bob", day + 60)[0] != morning and len(calls) == 2
    token = parse_qs(urlsplit(morning).query)["t"][0]
    assert verify_inbox(mac, token, now=day + 8 * 86_400 - 1).reviewer == "alice"
