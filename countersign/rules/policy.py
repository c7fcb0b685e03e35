"""The oversight policy: what each action type needs before it may run.

The policy document is built from CDK context at synth time, validated against
``schemas/policy.v1.json``, stored in SSM and read by the workflow at run time. Its version is a
hash of its content, so every audit record names exactly the rules that applied. Each action type
inherits ``default`` and overrides what it needs.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Callable

from countersign.rules import canonical
from countersign.rules.validation import SchemaError, load_schema, validate

POLICY_SCHEMA = "policy.v1.json"
RISKS = ("low", "medium", "high", "critical")
AUTONOMY = "policy.autonomy"         # the built-in action type that carries the calibrator's loosenings
# The calibration rule's defaults (rules/calibration.py): the override rate an auto zone may show at
# its 95% upper bound, and the fewest decisions a threshold rests on. For target_error 0.01 the bound
# binds first (zero overrides need 381 decisions); the floor matters for the band (73 would reach
# 0.05) and for looser targets, where a few dozen lucky decisions must not move a boundary.
TARGET_ERROR = 0.01
MIN_SAMPLES = 100
# why a reviewer modified or rejected: the categories the page offers unless the policy names its own
OVERRIDE_REASONS = ("wrong_parameters", "wrong_action", "insufficient_evidence", "policy", "other")
DEFAULTS = {"risk": "medium", "reversible": False, "always_human": ["high", "critical"],
            "veto_threshold": None, "veto_window_seconds": 3600, "spot_check_rate": 0.0, "quorum": 1,
            "executor": None, "compensation": None, "hotl": "veto", "post_execution_review": False,
            "tiers": None, "reminder_before_seconds": None, "override_reasons": list(OVERRIDE_REASONS),
            "target_error": TARGET_ERROR, "min_samples": MIN_SAMPLES, "canary_rate": 0.0, "canaries": []}


class UnknownActionType(ValueError):
    pass


def build_document(policy: dict[str, Any], known_reviewers: set[str],
                   expand: Callable[[list[str]], list[str]] | None = None,
                   autonomy_review: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate a policy from configuration and return it with its content version.
    ``known_reviewers`` holds the reviewer ids and the ``role:<name>`` of every role someone
    holds; ``expand`` (the registry's) resolves them to people, for the quorum check.
    ``autonomy_review`` (``{reviewers, quorum}``) adds the built-in ``policy.autonomy`` action type,
    through which the calibrator's loosenings are approved; a policy may not define it itself."""
    from countersign.rules import autonomy      # synth-time only: the handlers need not load it
    validate(policy, load_schema(POLICY_SCHEMA))
    expand = expand or (lambda names: list(names))
    if autonomy.AUTONOMY in policy["action_types"]:
        raise SchemaError(f"policy: {autonomy.AUTONOMY} is built in (configure it with context autonomy_review)",
                          f"$.action_types.{autonomy.AUTONOMY}")
    if autonomy_review is not None:
        policy = {**policy, "action_types": {**policy["action_types"], autonomy.AUTONOMY: autonomy.builtin_rules(
            list(autonomy_review["reviewers"]), int(autonomy_review["quorum"]))}}
    if "description" in policy["default"]:
        raise SchemaError("policy default: description belongs to an action type (it says what that type does)",
                          "$.default.description")
    for scope, rules in [("default", policy["default"]), *policy["action_types"].items()]:
        named = set(rules.get("reviewers", [])) | {r for tier in rules.get("tiers", []) for r in tier["reviewers"]}
        unknown = named - known_reviewers
        for role in sorted(n for n in unknown if n.startswith("role:")):
            raise SchemaError(f"policy {scope}: role {role[5:]!r} is held by no reviewer", f"{_path(scope)}.reviewers")
        if unknown:
            raise SchemaError(f"policy {scope}: reviewers not configured: {', '.join(sorted(unknown))}",
                              f"{_path(scope)}.reviewers")
        if "parameters" in rules:
            _check_parameters_schema(scope, rules["parameters"])
        merged = merged_rules(policy, scope) if scope != "default" else {**DEFAULTS, **rules}
        for problem, where in _combination_problems(merged):
            raise SchemaError(f"policy {scope}: {problem}", f"{_path(scope)}.{where}")
        available = min([len(expand(t["reviewers"])) for t in merged["tiers"]] if merged["tiers"]
                        else [len(expand(merged.get("reviewers") or sorted(known_reviewers)))])
        if merged["quorum"] > available:
            raise SchemaError(f"policy {scope}: quorum {merged['quorum']} needs at least that many reviewers "
                              f"(has {available})", f"{_path(scope)}.quorum")
        if merged["veto_threshold"] is not None and merged["veto_threshold"] >= merged["auto_approve_threshold"]:
            raise SchemaError(f"policy {scope}: veto_threshold must be below auto_approve_threshold",
                              f"{_path(scope)}.veto_threshold")
    body = {"default": policy["default"], "action_types": policy["action_types"]}
    return {**body, "version": canonical.sha256(body)[:12]}


def checked_document(document: dict[str, Any]) -> dict[str, Any]:
    """The policy as read at run time: it must still satisfy the schema and its own version hash,
    or the step fails (closed) rather than route by rules nobody reviewed."""
    body = {"default": document.get("default"), "action_types": document.get("action_types")}
    validate(body, load_schema(POLICY_SCHEMA))
    if document.get("version") != canonical.sha256(body)[:12]:
        raise SchemaError("the deployed policy does not match its version hash", "$.version")
    return document


def _combination_problems(merged: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    if merged["post_execution_review"] and not merged["executor"]:
        found.append(("post_execution_review needs an executor to stage and promote the action", "executor"))
    if merged["hotl"] == "post_hoc" and not (merged["executor"] and merged["compensation"]):
        found.append(("hotl post_hoc needs an executor and a compensation to reverse it", "compensation"))
    if merged["canary_rate"] > 0 and not merged["canaries"]:
        found.append(("canary_rate needs at least one canary definition in canaries", "canaries"))
    return found


def _path(scope: str) -> str:
    return "$.default" if scope == "default" else f"$.action_types.{scope}"


def _check_parameters_schema(scope: str, schema: dict[str, Any]) -> None:
    import fastjsonschema

    try:
        fastjsonschema.compile(schema)
    except Exception as exc:  # definition errors, and re.error for a bad "pattern"
        raise SchemaError(f"policy {scope}: parameters is not a valid JSON Schema: {exc}",
                          f"{_path(scope)}.parameters") from None


@dataclass(frozen=True)
class Rules:
    """The policy as it applies to one action type (default merged with the type's overrides).

    Its snapshot travels in the workflow state; the Choice state compares against these names.
    """

    action_type: str
    version: str
    auto_approve_threshold: float
    review_timeout_seconds: int
    reviewers: tuple[str, ...]
    parameters: dict[str, Any]
    risk: str = "medium"
    reversible: bool = False
    always_human: tuple[str, ...] = ("high", "critical")
    veto_threshold: float | None = None
    veto_window_seconds: int = 3600
    spot_check_rate: float = 0.0
    quorum: int = 1
    executor: str | None = None
    compensation: str | None = None
    hotl: str = "veto"
    post_execution_review: bool = False
    tiers: tuple[dict[str, Any], ...] = ()          # [{reviewers, timeout_seconds}], asked in order
    reminder_before_seconds: int | None = None
    override_reasons: tuple[str, ...] = OVERRIDE_REASONS   # a modify or reject names one of these
    canary_rate: float = 0.0
    canaries: tuple[dict[str, Any], ...] = ()       # [{breaks, parameters}]: known-bad variants

    def snapshot(self) -> dict[str, Any]:
        snap = asdict(self)
        snap.update(reviewers=list(self.reviewers), always_human=list(self.always_human), tiers=list(self.tiers),
                    override_reasons=list(self.override_reasons),
                    canaries=list(self.canaries))
        for optional in ("veto_threshold", "executor", "compensation", "reminder_before_seconds"):
            if snap[optional] is None:
                del snap[optional]              # absent, so the Choice's IsPresent tests are false
        return snap

    @classmethod
    def from_snapshot(cls, snap: dict[str, Any]) -> "Rules":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in snap.items() if k in known}
        values["reviewers"] = tuple(values["reviewers"])
        values["always_human"] = tuple(values.get("always_human", cls.always_human))
        values["tiers"] = tuple(values.get("tiers", ()))
        values["override_reasons"] = tuple(values.get("override_reasons", OVERRIDE_REASONS))
        values["canaries"] = tuple(values.get("canaries", ()))
        values.setdefault("parameters", {})
        return cls(**values)


def merged_rules(document: dict[str, Any], action_type: str) -> dict[str, Any]:
    """An action type's rules: the defaults, then ``default``, then its own (the built-in
    ``policy.autonomy`` skips ``default``: no deployment setting reaches it)."""
    inherited = {} if action_type == AUTONOMY else document["default"]
    return {**DEFAULTS, **inherited, **document["action_types"][action_type]}


def rules_for(document: dict[str, Any], action_type: str, all_reviewers: list[str],
              expand: Callable[[list[str]], list[str]] | None = None) -> Rules:
    """The rules of one action type. ``expand`` (the registry's) turns ids and ``role:x`` names
    into the active reviewers they name; without it, names are kept as written."""
    if action_type not in document["action_types"]:
        known = ", ".join(sorted(document["action_types"]))
        raise UnknownActionType(f"unknown action type {action_type!r}; this stack accepts: {known}")
    merged = merged_rules(document, action_type)
    expand = expand or (lambda names: list(names))
    asked = expand(merged.get("reviewers") or all_reviewers)
    return Rules(
        action_type=action_type,
        version=document["version"],
        auto_approve_threshold=float(merged["auto_approve_threshold"]),
        review_timeout_seconds=int(merged["review_timeout_seconds"]),
        reviewers=tuple(asked),
        parameters=merged.get("parameters") or {"type": "object"},
        risk=merged["risk"],
        reversible=bool(merged["reversible"]),
        always_human=tuple(merged["always_human"]),
        veto_threshold=None if merged["veto_threshold"] is None else float(merged["veto_threshold"]),
        veto_window_seconds=int(merged["veto_window_seconds"]),
        spot_check_rate=float(merged["spot_check_rate"]),
        quorum=int(merged["quorum"]),
        executor=merged["executor"],
        compensation=merged["compensation"],
        hotl=merged["hotl"],
        post_execution_review=bool(merged["post_execution_review"]),
        tiers=tuple([{**t, "reviewers": expand(t["reviewers"])} for t in merged["tiers"]] if merged["tiers"] else
                    [{"reviewers": list(asked), "timeout_seconds": int(merged["review_timeout_seconds"])}]),
        reminder_before_seconds=merged["reminder_before_seconds"],
        override_reasons=tuple(merged["override_reasons"]),
        canary_rate=float(merged["canary_rate"]),
        canaries=tuple(merged["canaries"]),
    )
