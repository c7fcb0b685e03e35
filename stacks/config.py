"""Typed configuration read from CDK context (``cdk.json``, overridable with ``-c key=value``).

Every value is checked here, at synth time, with a message that names the key: a stack that
would deploy with a broken policy or an unsafe retention never synthesizes.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from countersign.workflow.asl import DEFAULT_MAX_GATES
from countersign.evidence.identity import MODES as REVIEWER_IDENTITIES
from countersign.review.registry import Registry, RegistryError, Reviewer, check_policy, parse
from countersign.rules.autonomy import AUTONOMY, RISK as AUTONOMY_RISK
from countersign.rules.policy import build_document, rules_for
from countersign.rules.validation import SchemaError

__all__ = ["Config", "ConfigError", "Reviewer"]

_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
_DESTINATION = {"github": {"kind", "name", "repository", "secret", "prefix"},
                "gitlab": {"kind", "name", "url", "project", "ref", "secret", "prefix"}}
_DESTINATION_FIELDS = {"name": r"[A-Za-z0-9-]{1,32}", "repository": r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+",
                       "url": r"https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~-]+)*", "project": r"[0-9]{1,20}",
                       "ref": r"[A-Za-z0-9._/-]{1,255}", "secret": r"[A-Za-z0-9/_+=.@:-]{1,2048}",
                       "prefix": r"[A-Za-z0-9_-]{1,64}"}
PROD_MIN_RETENTION_DAYS = 183  # EU AI Act Art. 19 / 26(6): keep logs at least six months
PROD_DEFAULT_RETENTION_DAYS = 2557  # seven years, a common record-keeping period


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Ops:
    """What operations are told, and when (``ops_*`` context keys, and ``event_bus_name``)."""

    email: str | None = None             # ops_email: subscribed to the alarm topic (none: subscribe yourself)
    pending_age_hours: int = 24          # ops_pending_age_hours: alarm when a review waits longer
    kill_switch_minutes: int = 60        # ops_kill_switch_minutes: alarm when the switch stays on longer
    refused_links: int = 20              # ops_refused_links: alarm at this many refused links in 5 minutes
    event_bus_name: str = "default"      # event_bus_name: where Countersign's events go (an existing bus)


@dataclass(frozen=True)
class Config:
    stage: str
    reviewers: tuple[Reviewer, ...]
    policy: dict[str, Any]              # the validated runtime document, with its version
    audit_retention_days: int
    audit_lock_mode: str                # COMPLIANCE | GOVERNANCE
    review_base_url: str | None
    powertools_layer_version: int
    max_human_gates: int = DEFAULT_MAX_GATES   # the checkpoint budget per workflow path (1–3)
    reminder_sweep_minutes: int = 5            # how often due reminders are sent
    dispatcher_timeout_seconds: int = 30       # the dispatcher's Lambda timeout; a claim is stale after it + margin
    reconcile_minutes: int = 1                 # how often the reconciler finishes undispatched decisions
    verdict_destinations: tuple[dict[str, str], ...] = ()   # pipelines told when an execution ends
    authenticated_submitter_only: bool = False   # refuse direct StartExecution input (default: on in prod)
    audit_digest_minutes: int = 60               # how often the signed audit digest is written
    evidence_hosts: tuple[str, ...] = ()         # hosts whose https evidence URLs the review page may link
    audit_reviewer_identity: str = "id"          # audit records name reviewers by registry id, or by pseudonym
    calibrate_minutes: int = 60                  # how often the calibrator runs (drift demotes within this)
    notify: str = "each"                         # each: one email per review at once; digest: batched
    digest_minutes: int = 60                     # notify=digest: at most one digest per reviewer per interval
    ops: Ops = Ops()                             # alarms, their topic, and the event bus
    receipt_valid_hours: int = 24                # how long a decision receipt may be acted on (1–168)

    @property
    def is_production(self) -> bool:
        return self.stage == "prod"

    @property
    def reviewer_ids(self) -> list[str]:
        return [r.id for r in self.reviewers]

    @property
    def registry(self) -> Registry:
        return Registry(self.reviewers)

    @classmethod
    def from_context(cls, get) -> "Config":
        """``get`` is ``node.try_get_context``; values given with ``-c`` arrive as strings."""
        def value(key: str, default: Any = None) -> Any:
            raw = get(key)
            if isinstance(raw, str) and raw[:1] and raw[:1] in "[{":
                try:
                    return json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"context {key}: not valid JSON ({exc.msg})") from None
            return default if raw is None else raw

        stage = str(value("stage", "dev"))
        if not _STAGE.match(stage):
            raise ConfigError(f"context stage: {stage!r} must be lowercase letters, digits, '-' (≤16)")
        try:
            registry = parse(value("reviewers", []))
        except RegistryError as exc:
            raise ConfigError(f"context reviewers: {exc}") from None
        reviewers = registry.reviewers
        try:
            policy = build_document(value("policy", {}), registry.names,
                                    lambda names: registry.expand(names, active_only=False),
                                    autonomy_review=_autonomy_review(value("autonomy_review", {}), registry))
            check_policy(registry, policy, lambda t: rules_for(policy, t, registry.ids, registry.expand))
        except SchemaError as exc:
            raise ConfigError(f"context policy: {exc.message} (at {exc.path})") from None
        except RegistryError as exc:
            raise ConfigError(f"context reviewers and policy: {exc}") from None
        lock_mode = str(value("audit_lock_mode", "COMPLIANCE" if stage == "prod" else "GOVERNANCE")).upper()
        retention = _int(value("audit_retention_days", PROD_DEFAULT_RETENTION_DAYS if stage == "prod" else 1),
                         "audit_retention_days")
        if lock_mode not in ("COMPLIANCE", "GOVERNANCE"):
            raise ConfigError("context audit_lock_mode: must be COMPLIANCE or GOVERNANCE")
        if retention < 1:
            raise ConfigError("context audit_retention_days: must be at least 1")
        if stage == "prod" and (lock_mode != "COMPLIANCE" or retention < PROD_MIN_RETENTION_DAYS):
            raise ConfigError(f"stage prod needs audit_lock_mode COMPLIANCE and audit_retention_days >= "
                              f"{PROD_MIN_RETENTION_DAYS} (got {lock_mode}, {retention})")
        base_url = value("review_base_url")
        if base_url is not None and not str(base_url).startswith("https://"):
            raise ConfigError("context review_base_url: must be an https:// URL")
        max_gates = _int(value("max_human_gates", DEFAULT_MAX_GATES), "max_human_gates")
        if not 1 <= max_gates <= 3:
            raise ConfigError("context max_human_gates: the checkpoint budget is 1 to 3 human gates per path")
        for action_type in policy["action_types"]:   # each escalation tier is one more human request
            tiers = len(rules_for(policy, action_type, [r.id for r in reviewers]).tiers)
            if tiers > max_gates:
                raise ConfigError(f"context policy: action type {action_type!r} asks {tiers} tiers of reviewers "
                                  f"in turn, over the checkpoint budget of {max_gates} human gate(s) per path "
                                  "(max_human_gates); use fewer tiers or raise the budget")
        sweep = _int(value("reminder_sweep_minutes", 5), "reminder_sweep_minutes")
        if not 1 <= sweep <= 60:
            raise ConfigError("context reminder_sweep_minutes: 1 to 60")
        dispatcher_timeout = _int(value("dispatcher_timeout_seconds", 30), "dispatcher_timeout_seconds")
        if not 5 <= dispatcher_timeout <= 900:
            raise ConfigError("context dispatcher_timeout_seconds: 5 to 900 (a Lambda timeout)")
        reconcile = _int(value("reconcile_minutes", 1), "reconcile_minutes")
        if not 1 <= reconcile <= 60:
            raise ConfigError("context reconcile_minutes: 1 to 60")
        identity = str(value("audit_reviewer_identity", "id"))
        if identity not in REVIEWER_IDENTITIES:
            raise ConfigError(f"context audit_reviewer_identity: must be id or pseudonym, got {identity!r}")
        notify = str(value("notify", "each"))
        if notify not in ("each", "digest"):
            raise ConfigError(f"context notify: each (an email per review) or digest (batched), got {notify!r}")
        digest_minutes = _int(value("digest_minutes", 60), "digest_minutes")
        if not 5 <= digest_minutes <= 1440:
            raise ConfigError("context digest_minutes: 5 to 1440 (at most one digest per reviewer per interval)")
        return cls(stage, reviewers, policy, retention, lock_mode, base_url,
                   _int(value("powertools_layer_version", 27), "powertools_layer_version"), max_gates, sweep,
                   dispatcher_timeout, reconcile, _destinations(value("verdict_destinations", [])),
                   _bool(value("authenticated_submitter_only", stage == "prod"), "authenticated_submitter_only"),
                   _digest_minutes(value("audit_digest_minutes", 60)), _hosts(value("evidence_hosts", [])),
                   identity, _ranged(value("calibrate_minutes", 60), "calibrate_minutes", 5, 1440), notify,
                   digest_minutes, _ops(value),
                   _ranged(value("receipt_valid_hours", 24), "receipt_valid_hours", 1, 168))


def _ranged(raw: Any, key: str, low: int, high: int) -> int:
    number = _int(raw, key)
    if not low <= number <= high:
        raise ConfigError(f"context {key}: {low} to {high}, got {number}")
    return number


def _autonomy_review(raw: Any, registry: Any) -> dict[str, Any]:
    """Who approves the calibrator's loosenings (``policy.autonomy``): ``{reviewers, quorum}``; by
    default every active reviewer with the authority to decide it, and two of them (one if only one)."""
    if not isinstance(raw, dict) or set(raw) - {"reviewers", "quorum"}:
        raise ConfigError(f"context autonomy_review: {{\"reviewers\": [ids], \"quorum\": n}}, got {raw!r}")
    able = [r.id for r in registry.reviewers if registry.refusal(r.id, AUTONOMY, AUTONOMY_RISK) is None]
    reviewers = raw.get("reviewers", able or registry.ids)
    if not isinstance(reviewers, list) or not reviewers or set(reviewers) - set(registry.ids):
        raise ConfigError(f"context autonomy_review.reviewers: configured reviewer ids, got {reviewers!r}")
    quorum = _ranged(raw.get("quorum", min(2, len(reviewers))), "autonomy_review.quorum", 1, len(reviewers))
    return {"reviewers": reviewers, "quorum": quorum}


_BUS = re.compile(r"^[A-Za-z0-9._-]{1,256}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _ops(value) -> Ops:
    email = value("ops_email")
    if email is not None and not _EMAIL.match(str(email)):
        raise ConfigError(f"context ops_email: {email!r} is not an email address")
    bounds = {"ops_pending_age_hours": (1, 720), "ops_kill_switch_minutes": (5, 10080), "ops_refused_links": (1, 100000)}
    found = {}
    for key, (low, high) in bounds.items():
        found[key] = _int(value(key, getattr(Ops, key.removeprefix("ops_"))), key)
        if not low <= found[key] <= high:
            raise ConfigError(f"context {key}: {low} to {high}")
    bus = str(value("event_bus_name", "default"))
    if not _BUS.match(bus):
        raise ConfigError(f"context event_bus_name: {bus!r} is not an event bus name (letters, digits, . _ -)")
    return Ops(email and str(email), found["ops_pending_age_hours"], found["ops_kill_switch_minutes"],
               found["ops_refused_links"], bus)


def _int(raw: Any, key: str) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"context {key}: must be an integer, got {raw!r}") from None


_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _hosts(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(h, str) and _HOSTNAME.match(h) for h in raw):
        raise ConfigError(f"context evidence_hosts: a list of lowercase host names (e.g. \"shop.example.com\"), "
                          f"got {raw!r}")
    return tuple(raw)


def _digest_minutes(raw: Any) -> int:
    minutes = _int(raw, "audit_digest_minutes")
    if not 1 <= minutes <= 1440:
        raise ConfigError("context audit_digest_minutes: 1 to 1440 (a digest at least once a day)")
    return minutes


def _bool(raw: Any, key: str) -> bool:
    if isinstance(raw, bool) or str(raw).lower() in ("true", "false"):
        return raw if isinstance(raw, bool) else str(raw).lower() == "true"
    raise ConfigError(f"context {key}: must be true or false, got {raw!r}")


def _destinations(raw: Any) -> tuple[dict[str, str], ...]:
    """``verdict_destinations``: pipelines (GitHub repository_dispatch, GitLab pipeline triggers) told
    when an execution ends; their credentials are named Secrets Manager secrets, never values."""
    key = "context verdict_destinations"
    if not isinstance(raw, list):
        raise ConfigError(f"{key}: must be a list of destinations, got {raw!r}")
    found = []
    for i, entry in enumerate(raw):
        kind = entry.get("kind") if isinstance(entry, dict) else None
        if kind not in _DESTINATION:
            raise ConfigError(f"{key}[{i}]: kind must be github or gitlab, got {kind!r}")
        required = _DESTINATION[kind] - {"kind", "name", "prefix"}
        if set(entry) - _DESTINATION[kind] or required - set(entry):
            raise ConfigError(f"{key}[{i}]: a {kind} destination has {', '.join(sorted(required))} and optionally "
                              f"name and prefix, got {', '.join(sorted(set(entry) - {'kind'}))}")
        entry = {"name": f"{kind}-{i + 1}", **entry}
        for field, value in entry.items():
            if field != "kind" and not (isinstance(value, str) and re.fullmatch(_DESTINATION_FIELDS[field], value)):
                raise ConfigError(f"{key}[{i}].{field}: {value!r} must match {_DESTINATION_FIELDS[field]}")
        found.append(entry)
    if len({d["name"] for d in found}) != len(found):
        raise ConfigError(f"{key}: destination names must be unique")
    return tuple(found)
