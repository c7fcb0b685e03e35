"""Signed review links, and each reviewer's inbox link.

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
from functools import lru_cache
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


def claimed_reviewer(token: str | None) -> str | None:
    """Whom a review link's token names, before its MAC is checked (None: not a review token)."""
    match = _TOKEN.match(token or "")
    return match.group(1) if match else None


def verify(mac: Mac, review_id: str, token: str | None, now: float | None = None) -> Grant:
    """Return who may act on ``review_id`` until when, or raise LinkRefused."""
    match = _TOKEN.match(token or "")
    if not match or not valid_review_id(review_id):
        raise LinkRefused("malformed link")
    reviewer, expires_at, given = match.group(1), int(match.group(2)), match.group(3)
    _genuine(mac, _message(review_id, reviewer, expires_at), given, expires_at, now,
             "link signature does not match this review", "link expired")
    return Grant(review_id, reviewer, expires_at)


def _genuine(mac: Mac, message: bytes, given: str, expires_at: int, now: float | None,
             forged: str, expired: str) -> None:
    """The MAC matches (constant-time comparison) and the link has not expired, or LinkRefused."""
    if not hmac.compare_digest(_b64(mac(message)).encode(), given.encode()):
        raise LinkRefused(forged)
    if (time.time() if now is None else now) >= expires_at:
        raise LinkRefused(expired)


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


# The inbox link: bound to one reviewer, not to a review. Its own prefix and its own MAC domain, so
# an inbox token never opens a review and a review token never opens an inbox, even re-prefixed.
_INBOX = re.compile(r"^i1\.([a-z0-9][a-z0-9_-]{0,31})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$")
INBOX_SECONDS = 7 * 86400     # how long an emailed inbox link stays valid


def _inbox_message(reviewer: str, expires_at: int) -> bytes:
    return f"countersign-inbox|v1|{reviewer}|{expires_at}".encode()


def sign_inbox(mac: Mac, reviewer: str, expires_at: int) -> str:
    return f"i1.{reviewer}.{expires_at}.{_b64(mac(_inbox_message(reviewer, expires_at)))}"


def inbox_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/inbox?t={quote(token)}"


def emailed_inbox(mac: Mac, base_url: str, reviewer: str, now: float) -> tuple[str, int]:
    """The inbox link an email carries, and when it expires: at the end of the UTC day
    ``INBOX_SECONDS`` after ``now`` (7 to 8 days), so a container signs one per reviewer and day
    and every email of that day reuses it (one KMS call, not one per email)."""
    expires_at = (int(now) + INBOX_SECONDS) // 86400 * 86400 + 86400
    return inbox_url(base_url, _signed_inbox(mac, reviewer, expires_at)), expires_at


@lru_cache(maxsize=1024)
def _signed_inbox(mac: Mac, reviewer: str, expires_at: int) -> str:
    return sign_inbox(mac, reviewer, expires_at)


def verify_inbox(mac: Mac, token: str | None, now: float | None = None) -> Grant:
    """Whose inbox ``token`` opens until when (``review_id`` empty), or raise LinkRefused."""
    match = _INBOX.match(token or "")
    if not match:
        raise LinkRefused("malformed inbox link")
    reviewer, expires_at, given = match.group(1), int(match.group(2)), match.group(3)
    _genuine(mac, _inbox_message(reviewer, expires_at), given, expires_at, now,
             "inbox link signature does not match", "inbox link expired")
    return Grant("", reviewer, expires_at)
