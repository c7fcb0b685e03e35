"""The proposal: the public contract an AI system submits (``schemas/proposal.v1.json``).

Everything in a proposal except its shape and the confidence range is written by an AI and is
untrusted: it is validated and bounded here, escaped wherever it is shown, and never evaluated.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from typing import Any

from countersign.rules import canonical
from countersign.rules.policy import Rules, UnknownActionType, rules_for
from countersign.rules.validation import SchemaError, load_schema, validate

PROPOSAL_SCHEMA = "proposal.v1.json"
_NAME_SAFE = re.compile(r"[^A-Za-z0-9_-]")


class InvalidProposal(ValueError):
    """The proposal was refused. ``errors`` lists each problem as ``{path, message}``."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['path']}: {e['message']}" for e in errors))
        self.errors = errors


def check(proposal: Any, policy_document: dict[str, Any], all_reviewers: list[str], expand=None) -> Rules:
    """Validate a proposal against the schema and the policy; return the rules that apply to it,
    with reviewers resolved by ``expand`` (the registry's: roles, active reviewers only)."""
    check_shape(proposal)
    try:
        rules = rules_for(policy_document, proposal["action"]["type"], all_reviewers, expand)
    except UnknownActionType as exc:
        raise InvalidProposal([{"path": "$.action.type", "message": str(exc)}]) from None
    for index, tier in enumerate(rules.tiers if expand else ()):   # resolved against the registry
        if not tier["reviewers"]:
            raise InvalidProposal([{"path": "$.action.type", "message": f"nobody active may review "
                                    f"{rules.action_type} at tier {index + 1}: the registry has no active reviewer "
                                    "for it"}])
    check_parameters(proposal["action"]["parameters"], rules)
    return rules


MAX_DEPTH = 32                   # nesting of objects and arrays anywhere in the proposal
MAX_PROPOSAL_BYTES = 128 * 1024  # Step Functions carries at most 256 KiB of state; the rest is the workflow's


def check_limits(proposal: Any) -> None:
    """Refuse what the workflow could not carry, before anything starts: too deep, too large."""
    stack = [(proposal, "$", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise InvalidProposal([{"path": path, "message": f"nested deeper than {MAX_DEPTH} levels"}])
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack += [(v, f"{path}.{k}" if isinstance(value, dict) else f"{path}[{k}]", depth + 1) for k, v in items]
    size = len(json.dumps(proposal, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > MAX_PROPOSAL_BYTES:
        raise InvalidProposal([{"path": "$", "message": f"the proposal is {size:,} bytes; the limit is "
                                f"{MAX_PROPOSAL_BYTES:,} (Step Functions carries at most 256 KiB of state): put "
                                "large evidence in S3 and pass a reference"}])


def check_shape(proposal: Any) -> None:
    """Schema-only validation, for clients that do not hold the deployed policy."""
    check_limits(proposal)
    try:
        validate(proposal, load_schema(PROPOSAL_SCHEMA))
    except SchemaError as exc:
        raise InvalidProposal([{"path": exc.path, "message": exc.message}]) from None
    if not math.isfinite(proposal["confidence"]):   # Python's JSON parser accepts NaN and Infinity
        raise InvalidProposal([{"path": "$.confidence", "message": "$.confidence must be a finite number"}])


def check_parameters(parameters: Any, rules: Rules) -> None:
    """Action parameters must satisfy the action type's own schema (also used for 'modify')."""
    try:
        validate(parameters, rules.parameters)
    except SchemaError as exc:
        path = "$.action.parameters" + exc.path[1:]
        message = "$.action.parameters" + exc.message[1:] if exc.message.startswith("$") else exc.message
        raise InvalidProposal([{"path": path, "message": message}]) from None


def content_hash(proposal: dict[str, Any]) -> str:
    """SHA-256 of the proposal's canonical JSON, without its idempotency key: what an execution and
    its verdict are bound to, so a key reused for other content is refused, never joined."""
    return canonical.sha256({k: v for k, v in proposal.items() if k != "idempotency_key"})


def execution_name(proposal: dict[str, Any], idempotency_key: str | None = None) -> str:
    """A Step Functions execution name derived from the idempotency key (≤ 80 chars, safe set).

    A retried pipeline step with the same key gets the same name, so Step Functions refuses to
    start a second review. Without a key every submission is a new execution.
    """
    key = idempotency_key or proposal.get("idempotency_key")
    if not key:
        return "p-" + uuid.uuid4().hex
    safe = _NAME_SAFE.sub("-", key)
    if safe == key and len(key) <= 80:
        return key
    # changed or cut: a digest of the exact key keeps distinct keys distinct
    return f"{safe[:55]}-{hashlib.sha256(key.encode()).hexdigest()[:24]}"
