"""Signed review links.

A link carries a review id, a reviewer id, an expiry and a MAC over the three, never the task
token. The MAC key lives in KMS (an HMAC_256 key); ``mac`` is any callable that returns the MAC of
some bytes, so the same code runs against KMS, moto, or a fake. Verification recomputes the MAC
and compares in constant time.
"""
from __future__ import annotations

import base64
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import quote

Mac = Callable[[bytes], bytes]
_TOKEN = re.compile(r"^v1\.([a-z0-9][a-z0-9_-]{0,31})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$")
_REVIEW_ID = re.compile(r"^rv-[0-9a-f]{20}$")


class LinkRefused(PermissionError):
    """The link is malformed, forged, for another review, or expired."""


@dataclass(frozen=True)
class Grant:
    review_id: str
    reviewer: str
    expires_at: int


def _message(review_id: str, reviewer: str, expires_at: int) -> bytes:
    return f"countersign-link|v1|{review_id}|{reviewer}|{expires_at}".encode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def sign(mac: Mac, review_id: str, reviewer: str, expires_at: int) -> str:
    return f"v1.{reviewer}.{expires_at}.{_b64(mac(_message(review_id, reviewer, expires_at)))}"


def review_url(base_url: str, review_id: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/reviews/{quote(review_id)}?t={quote(token)}"


def valid_review_id(review_id: str) -> bool:
    return bool(_REVIEW_ID.match(review_id or ""))


def verify(mac: Mac, review_id: str, token: str | None, now: float | None = None) -> Grant:
    """Return who may act on ``review_id`` until when, or raise LinkRefused."""
    match = _TOKEN.match(token or "")
    if not match or not valid_review_id(review_id):
        raise LinkRefused("malformed link")
    reviewer, expires_at, given = match.group(1), int(match.group(2)), match.group(3)
    expected = _b64(mac(_message(review_id, reviewer, expires_at)))
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise LinkRefused("link signature does not match this review")
    if (time.time() if now is None else now) >= expires_at:
        raise LinkRefused("link expired")
    return Grant(review_id, reviewer, expires_at)


# The rendering stamp: when the review page was rendered, a hidden form field signed like a link
# (domain-separated, bound to the review and the reviewer), so a reviewer cannot forge it.
_STAMP = re.compile(r"^v1\.([0-9]{1,15})\.([A-Za-z0-9_-]{43})$")


class StampRefused(ValueError):
    """The form's rendering stamp is malformed or does not match this review and reviewer."""


def _stamp_message(review_id: str, reviewer: str, rendered_ms: int) -> bytes:
    return f"countersign-rendered|v1|{review_id}|{reviewer}|{rendered_ms}".encode()


def sign_rendered(mac: Mac, review_id: str, reviewer: str, rendered_ms: int) -> str:
    return f"v1.{rendered_ms}.{_b64(mac(_stamp_message(review_id, reviewer, rendered_ms)))}"


def verify_rendered(mac: Mac, review_id: str, reviewer: str, stamp: str) -> int:
    """The epoch milliseconds at which this reviewer's page was rendered, or raise StampRefused."""
    match = _STAMP.match(stamp)
    if not match:
        raise StampRefused("the page's rendering stamp is malformed")
    rendered_ms, given = int(match.group(1)), match.group(2)
    expected = _b64(mac(_stamp_message(review_id, reviewer, rendered_ms)))
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise StampRefused("the page's rendering stamp does not match this review and reviewer")
    return rendered_ms


# The confirm step's seal: a MAC over the exact changes a confirm page showed (domain-separated,
# bound to the review and the reviewer), so what is recorded is what the person confirmed.
def _shown_message(review_id: str, reviewer: str, shown: Any) -> bytes:
    from countersign.rules.canonical import sha256

    return f"countersign-shown|v1|{review_id}|{reviewer}|{sha256(shown)}".encode()


def seal_shown(mac: Mac, review_id: str, reviewer: str, shown: Any) -> str:
    return _b64(mac(_shown_message(review_id, reviewer, shown)))


def shown_matches(mac: Mac, review_id: str, reviewer: str, shown: Any, seal: str) -> bool:
    return hmac.compare_digest(seal_shown(mac, review_id, reviewer, shown).encode(), (seal or "").encode())
