"""The oversight policy: what each action type needs before it may run.

The policy document is built from CDK context at synth time, validated against
``schemas/policy.v1.json``, stored in SSM and read by the workflow at run time. Its version is a
hash of its content, so every audit record names exactly the rules that applied.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import canonical
from .validation import SchemaError, load_schema, validate

POLICY_SCHEMA = "policy.v1.json"


class UnknownActionType(ValueError):
    pass


def build_document(policy: dict[str, Any], known_reviewers: set[str]) -> dict[str, Any]:
    """Validate a policy from configuration and return it with its content version."""
    validate(policy, load_schema(POLICY_SCHEMA))
    for scope, rules in [("default", policy["default"]), *policy["action_types"].items()]:
        unknown = set(rules.get("reviewers", [])) - known_reviewers
        if unknown:
            raise SchemaError(f"policy {scope}: reviewers not configured: {', '.join(sorted(unknown))}",
                              f"{_path(scope)}.reviewers")
        if "parameters" in rules:
            _check_parameters_schema(scope, rules["parameters"])
    body = {"default": policy["default"], "action_types": policy["action_types"]}
    return {**body, "version": canonical.sha256(body)[:12]}


def _check_parameters_schema(scope: str, schema: dict[str, Any]) -> None:
    import fastjsonschema

    try:
        fastjsonschema.compile(schema)
    except Exception as exc:  # definition errors, and re.error for a bad "pattern"
        raise SchemaError(f"policy {scope}: parameters is not a valid JSON Schema: {exc}",
                          f"{_path(scope)}.parameters") from None


def _path(scope: str) -> str:
    return "$.default" if scope == "default" else f"$.action_types.{scope}"


@dataclass(frozen=True)
class Rules:
    """The policy as it applies to one action type (default merged with the type's overrides)."""

    action_type: str
    version: str
    auto_approve_threshold: float
    review_timeout_seconds: int
    reviewers: tuple[str, ...]
    parameters: dict[str, Any]

    def snapshot(self) -> dict[str, Any]:
        """The state the workflow carries; the Choice state compares against these field names."""
        return {
            "action_type": self.action_type,
            "version": self.version,
            "auto_approve_threshold": self.auto_approve_threshold,
            "review_timeout_seconds": self.review_timeout_seconds,
            "reviewers": list(self.reviewers),
            "parameters": self.parameters,
        }

    @classmethod
    def from_snapshot(cls, snap: dict[str, Any]) -> "Rules":
        return cls(snap["action_type"], snap["version"], float(snap["auto_approve_threshold"]),
                   int(snap["review_timeout_seconds"]), tuple(snap["reviewers"]), snap.get("parameters") or {})


def rules_for(document: dict[str, Any], action_type: str, all_reviewers: list[str]) -> Rules:
    if action_type not in document["action_types"]:
        known = ", ".join(sorted(document["action_types"]))
        raise UnknownActionType(f"unknown action type {action_type!r}; this stack accepts: {known}")
    merged = {**document["default"], **document["action_types"][action_type]}
    return Rules(
        action_type=action_type,
        version=document["version"],
        auto_approve_threshold=float(merged["auto_approve_threshold"]),
        review_timeout_seconds=int(merged["review_timeout_seconds"]),
        reviewers=tuple(merged.get("reviewers") or all_reviewers),
        parameters=merged.get("parameters") or {"type": "object"},
    )


def escalation_reason(confidence: float, rules: Rules) -> str:
    """Why a proposal reached a human, in words a reviewer and an auditor can read.

    The routing itself happens in the workflow's Choice state; this mirrors it for display, and
    a test holds the two to the same answer at every boundary.
    """
    threshold = f"{rules.auto_approve_threshold:g}"
    if confidence >= rules.auto_approve_threshold:
        return f"confidence {confidence:g} meets the auto-approve threshold {threshold}"
    return f"confidence {confidence:g} is below the auto-approve threshold {threshold} for {rules.action_type}"


def expected_route(confidence: float, rules: Rules) -> str:
    return "auto" if confidence >= rules.auto_approve_threshold else "human_review"
