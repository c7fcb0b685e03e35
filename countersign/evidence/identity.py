"""Who the audit trail names: a reviewer's registry id, or a stable pseudonym.

With ``AUDIT_REVIEWER_IDENTITY=pseudonym`` (CDK context ``audit_reviewer_identity``), Prepare
computes one pseudonym per reviewer the case can involve (every tier's reviewers and the resolved
proposers): an HMAC of the id under the stack's KMS HMAC key, domain-separated from links and spot
checks. It stores the lookup pseudonym → id in the reviews table (item ``PSEUDONYM#<pseudonym>``),
outside the locked bucket, before any record names it, and the map travels with the case
(``Case.identities``), so every later step names reviewers the same way without the key. Deleting
a lookup item leaves every record, and so the hash chain, untouched.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Protocol

MODES = ("id", "pseudonym")
PURPOSE = "countersign-pseudonym|v1|"
PREFIX = "ps-"


class PseudonymLookup(Protocol):
    def remember(self, pseudonym: str, reviewer: str) -> None: ...
    def resolve(self, pseudonym: str) -> str | None: ...
    def forget(self, pseudonym: str) -> None: ...


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"reviewer identity must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def pseudonym(mac: Callable[[bytes], bytes], reviewer: str) -> str:
    """``ps-`` and 24 hex digits (96 bits) of HMAC-SHA-256(key, purpose | reviewer id)."""
    return PREFIX + mac(f"{PURPOSE}{reviewer}".encode()).hex()[:24]


def identities(mode: str, mac: Callable[[bytes], bytes] | None, reviewers: Iterable[str],
               lookup: PseudonymLookup | None) -> dict[str, str]:
    """The case's map id → pseudonym (empty in ``id`` mode), each lookup stored before it is used."""
    if check_mode(mode) == "id":
        return {}
    if mac is None or lookup is None:
        raise RuntimeError("pseudonymous audit records need the KMS HMAC key and the pseudonym lookup table")
    names = {r: pseudonym(mac, r) for r in sorted(set(reviewers))}
    for reviewer, name in names.items():
        lookup.remember(name, reviewer)
    return names


def name(reviewer: str, names: Mapping[str, str]) -> str:
    """How the record names ``reviewer``. In pseudonym mode (``names`` not empty) an id the map
    does not hold is an error, never written in the clear."""
    if not names:
        return reviewer
    if reviewer not in names:
        raise KeyError(f"no pseudonym for a reviewer of this case ({len(reviewer)} characters)")
    return names[reviewer]


def masked(fields: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """``fields`` with every registry id in a reviewer field replaced by its pseudonym:
    ``actor`` (``reviewer:<id>``), ``reviewer``, ``decided_by``, ``reviewers`` (ids, or objects
    with ``id``), ``votes[].reviewer``, ``facts.proposed_by`` and ``request.reviewer``."""
    if not names:
        return fields
    n = lambda r: None if r is None else name(r, names)  # noqa: E731
    out = dict(fields)
    if str(out.get("actor", "")).startswith("reviewer:"):
        out["actor"] = "reviewer:" + n(out["actor"].split(":", 1)[1])
    for key in ("reviewer", "decided_by"):
        if key in out:
            out[key] = n(out[key])
    if "reviewers" in out:
        out["reviewers"] = [{**r, "id": n(r["id"])} if isinstance(r, dict) else n(r) for r in out["reviewers"]]
    if "votes" in out:
        out["votes"] = [{**v, "reviewer": n(v["reviewer"])} for v in out["votes"]]
    if "proposed_by" in (out.get("facts") or {}):
        out["facts"] = {**out["facts"], "proposed_by": [n(r) for r in out["facts"]["proposed_by"]]}
    if "reviewer" in (out.get("request") or {}):
        out["request"] = {**out["request"], "reviewer": n(out["request"]["reviewer"])}
    return out
