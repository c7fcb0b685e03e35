"""The world the threat corpus (``test_threats``) acts in: reviews to attack, ways to bend a
link's token, and what the audit trail must show after each hostile request."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import boto3

from countersign.review import links
from countersign.sandbox.api_gateway import HttpResponse
from tests.helpers import REASONS, decision_url, form_token, hidden_fields, proposal, review_link, unique

HOST = "127.0.0.1:8000"          # the review page's own host (the stack's review base URL)
FORM = "application/x-www-form-urlencoded"


class World:
    """Reviews to attack: a shared pending one (refusals leave it pending), a second one, and a
    fresh one whenever a case decides. ``arn`` is the execution the current case touches."""

    def __init__(self, stack) -> None:
        self.stack, self.arn = stack, ""
        self._pending: dict[str, Any] = {}

    def pending(self, reviewer: str = "alice", which: str = "x") -> str:
        if which not in self._pending:
            arn = self.stack.start(proposal(), unique(f"threat-{which}"))
            self._pending[which] = (arn, {r: review_link(self.stack, arn, r) for r in ("alice", "bob", "carol")})
        self.arn, found = self._pending[which]
        return found[reviewer]

    def fresh(self, reviewer: str = "alice", **changes) -> str:
        self.arn = self.stack.start(proposal(**changes), unique("threat"))
        return review_link(self.stack, self.arn, reviewer)

    def inbox(self, reviewer: str = "alice") -> str:
        """The reviewer's inbox link, from the email about the shared pending review."""
        self.pending(reviewer)
        return next(e.inbox for e in reversed(self.stack.emails()) if e.reviewer == reviewer and e.inbox)

    def get(self, link: str, method: str = "GET", **headers) -> HttpResponse:
        return self.stack.http(method, link, headers=headers)

    def form(self, link: str, **fields) -> dict[str, str]:
        """What the review page's form holds, with ``fields`` on top (None drops one)."""
        page = self.stack.http("GET", link).body
        decision = fields.get("decision") or "approve"
        merged = {**hidden_fields(page), "t": form_token(page), "decision": "approve", "rationale": "Checked.",
                  "reason": REASONS.get(decision, ""), **fields}
        return {k: v for k, v in merged.items() if v is not None}

    def post(self, link: str, fields: dict[str, str] | list[tuple[str, str]], content_type: str | None = FORM,
             **headers) -> HttpResponse:
        body = urlencode(fields)
        sent = {**({"Content-Type": content_type} if content_type else {}), **headers}
        return self.stack.http("POST", decision_url(link), body=body, headers=sent)

    def decide(self, link: str, **fields) -> HttpResponse:
        return self.post(link, self.form(link, **fields))


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["t"][0]


def with_token(link: str, token: str, review_id: str | None = None) -> str:
    path = urlsplit(link).path
    if review_id is not None:
        path = path.rsplit("/", 1)[0] + "/" + quote(review_id, safe="")
    return f"http://{HOST}{path}?t={quote(token)}"


def review_of(link: str) -> str:
    return urlsplit(link).path.rsplit("/", 1)[1]


def signed(stack, review_id: str, reviewer: str, expires_at: int) -> str:
    """A genuine signature, made with the stack's own link key (as only the stack can)."""
    key_id = next(res["Properties"]["Environment"]["Variables"]["LINK_KEY_ID"]
                  for res in stack.deployment.template["Resources"].values()
                  if res["Type"] == "AWS::Lambda::Function"
                  and "LINK_KEY_ID" in res["Properties"].get("Environment", {}).get("Variables", {}))
    kms = boto3.client("kms")
    return links.sign(lambda m: kms.generate_mac(KeyId=key_id, Message=m, MacAlgorithm="HMAC_SHA_256")["Mac"],
                      review_id, reviewer, expires_at)


def inbox_with(token: str) -> str:
    return f"http://{HOST}/inbox?t={quote(token)}"


def field_swapped(token: str, index: int, value: str) -> str:
    parts = token.split(".")
    parts[index] = value
    return ".".join(parts)


# --- what the audit trail must show ------------------------------------------------------------

def has(record: dict, fields: dict) -> bool:
    return all(record.get(k, KeyError) == v for k, v in fields.items())


@dataclass(frozen=True)
class Refused:
    """One ``refused_request`` record: this status, these words in its reason, this actor; and no
    decision on the record but the one that ``stands`` (a case that decided first)."""
    status: int
    words: str
    actor: str = "anonymous"
    request: dict[str, Any] = field(default_factory=dict)
    stands: str | None = None

    def check(self, refusals: list[dict], trail: list[dict]) -> None:
        [record] = refusals
        assert record["status"] == self.status and self.words in record["reason"], record
        assert record["actor"] == self.actor
        assert has(record["request"], self.request), record["request"]
        assert not TOKEN.search(str(record))                 # never the link token
        decided = [r["decision"] for r in trail if r["event"] in ("decision_recorded", "vote_recorded")]
        assert decided == ([self.stands] if self.stands else []), decided


@dataclass(frozen=True)
class Recorded:
    """No refusal; the execution's trail gained ``event`` with these fields (and no other decision)."""
    event: str
    fields: dict[str, Any] = field(default_factory=dict)
    test: Callable[[dict], bool] = lambda record: True

    def check(self, refusals: list[dict], trail: list[dict]) -> None:
        assert refusals == []
        [record] = [r for r in trail if r["event"] == self.event]
        assert has(record, self.fields), record
        assert self.test(record), record


@dataclass(frozen=True)
class Nothing:
    """Nothing written: API Gateway answered itself, or the request changed nothing."""

    def check(self, refusals: list[dict], trail: list[dict]) -> None:
        assert refusals == [] and trail == []


NOTHING = Nothing()
TOKEN = re.compile(r"[vi]1\.[a-z0-9_-]+\.[0-9]+\.[A-Za-z0-9_-]{43}")   # a review or an inbox link's
MAT = "Missing Authentication Token"        # what API Gateway answers for a method or path it does not have


@dataclass(frozen=True)
class Threat:
    name: str
    send: Callable[[World], HttpResponse]
    status: int
    shows: tuple[str, ...]                  # words on the page the person sees
    audit: Any                              # Refused | Recorded | Nothing
    hides: tuple[str, ...] = ()             # what must not be on it
    mail: tuple[str, ...] = ()              # words in the reviewer's email
    mail_hides: tuple[str, ...] = ()
