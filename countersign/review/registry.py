"""The reviewer registry: who may decide what (EU AI Act Art. 14 and 26: competent people with
real authority).

Each entry: ``id``, ``email``, optional ``principals`` (IAM ARNs that are this person),
``roles`` (``["finance"]``), ``authority`` (``{"risk": "high", "action_types": [...]}``: the
highest risk they may decide and, optionally, the only action types), ``active`` and
``trained_on`` (a date). A policy names reviewers by id or by ``role:<name>``.

Configured in CDK context, checked at synth, deployed to SSM and read by the desk at every
request, so deactivating someone takes effect at once (within the parameter cache).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable

from countersign.rules.policy import RISKS

ROLE = "role:"
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::(\d{12}|\*):[\w+=,.@/*-]+$")
_FIELDS = {"id", "email", "principals", "roles", "authority", "active", "trained_on"}
INACTIVE, ABOVE, OUTSIDE = "inactive", "above_authority", "outside_assignment"


class RegistryError(ValueError):
    pass


@dataclass(frozen=True)
class Reviewer:
    id: str
    email: str
    principals: tuple[str, ...] = ()   # IAM principal ARNs (or patterns) that are this person, for separation of duties
    roles: tuple[str, ...] = ()
    risk: str = "critical"             # the highest risk they may decide
    action_types: tuple[str, ...] | None = None   # None: every action type
    active: bool = True
    trained_on: str | None = None      # ISO date of their last oversight training (Art. 26 evidence)

    def to_dict(self) -> dict[str, Any]:
        authority: dict[str, Any] = {"risk": self.risk}
        if self.action_types is not None:
            authority["action_types"] = list(self.action_types)
        return {"id": self.id, "email": self.email, "principals": list(self.principals), "roles": list(self.roles),
                "authority": authority, "active": self.active, "trained_on": self.trained_on}


@dataclass(frozen=True)
class Refusal:
    kind: str       # inactive | above_authority | outside_assignment
    message: str    # in plain words, for the person


@dataclass(frozen=True)
class Registry:
    reviewers: tuple[Reviewer, ...]
    by_id: dict[str, Reviewer] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.by_id.update({r.id: r for r in self.reviewers})

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.reviewers]

    @property
    def names(self) -> set[str]:
        """What a policy may name: every id, and ``role:<name>`` for every role someone holds."""
        return {*self.ids, *(ROLE + role for r in self.reviewers for role in r.roles)}

    @property
    def directory(self) -> dict[str, str]:
        """Reviewer id → email, to resolve who proposed an action (``reviews.resolve_proposers``)."""
        return {r.id: r.email for r in self.reviewers}

    @property
    def principals(self) -> dict[str, list[str]]:
        """Reviewer id → IAM principal ARN patterns, to match the submitter (``submission.submitters``)."""
        return {r.id: list(r.principals) for r in self.reviewers if r.principals}

    def holders(self, role: str) -> list[str]:
        return [r.id for r in self.reviewers if role in r.roles]

    def expand(self, names: Iterable[str], active_only: bool = True) -> list[str]:
        """Ids and ``role:x`` names → the (active) reviewers they name, in order, each once."""
        found: list[str] = []
        for name in names:
            for rid in self.holders(name[len(ROLE):]) if name.startswith(ROLE) else [name]:
                person = self.by_id.get(rid)
                if person and (person.active or not active_only) and rid not in found:
                    found.append(rid)
        return found

    def refusal(self, reviewer: str, action_type: str, risk: str) -> Refusal | None:
        """Why ``reviewer`` may not decide an action of this type and risk, or None if they may."""
        person = self.by_id.get(reviewer)
        if person is None or not person.active:
            return Refusal(INACTIVE, "your reviewer account is not active, so your links no longer work; "
                                     "ask your Countersign operator if this is a mistake")
        if person.action_types is not None and action_type not in person.action_types:
            return Refusal(OUTSIDE, f"{action_type} actions are outside your assignment (you decide: "
                                    f"{', '.join(person.action_types) or 'none'}); another reviewer must decide")
        if RISKS.index(risk) > RISKS.index(person.risk):
            return Refusal(ABOVE, f"this action's risk is {risk}, above your authority (up to {person.risk}); "
                                  "a reviewer with higher authority must decide")
        return None

    def may_see(self, reviewer: str, action_type: str, risk: str) -> bool:
        """A case is visible to whoever may decide it: as a precedent, nothing else is shown."""
        return self.refusal(reviewer, action_type, risk) is None

    def to_json(self) -> str:
        return json.dumps([r.to_dict() for r in self.reviewers], sort_keys=True, separators=(",", ":"))


def parse(raw: Any) -> Registry:
    """The registry from its configuration (context ``reviewers``) or its deployed document."""
    if not isinstance(raw, list) or not raw:
        raise RegistryError("configure at least one reviewer {id, email}")
    reviewers = tuple(_reviewer(entry) for entry in raw)
    if len({r.id for r in reviewers}) != len(reviewers):
        raise RegistryError("reviewer ids must be unique")
    return Registry(reviewers)


def _reviewer(raw: Any) -> Reviewer:
    if not isinstance(raw, dict) or not {"id", "email"} <= set(raw):
        raise RegistryError(f"each entry needs id and email, got {raw!r}")
    unknown = sorted(set(raw) - _FIELDS)
    rid = str(raw["id"])
    if unknown:
        raise RegistryError(f"{rid}: unknown field(s) {', '.join(unknown)}; an entry may have "
                            f"{', '.join(sorted(_FIELDS))}")
    if not _ID.match(rid):
        raise RegistryError(f"id {rid!r} must match {_ID.pattern}")
    if not _EMAIL.match(str(raw["email"])):
        raise RegistryError(f"{raw['email']!r} is not an email address")
    principals = raw.get("principals") or []
    if not isinstance(principals, list) or not all(isinstance(p, str) and _PRINCIPAL.match(p) for p in principals):
        raise RegistryError(f"{rid}'s principals must be IAM or STS ARNs (patterns with * allowed), such as "
                            f"arn:aws:sts::123456789012:assumed-role/alice/*; got {principals!r}")
    roles = raw.get("roles") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) and _ID.match(r) for r in roles):
        raise RegistryError(f"{rid}'s roles must be a list of names like \"finance\", got {roles!r}")
    authority = raw.get("authority", {"risk": "critical"})
    if not isinstance(authority, dict) or set(authority) - {"risk", "action_types"} or \
            authority.get("risk") not in RISKS:
        raise RegistryError(f"{rid}'s authority must be {{\"risk\": one of {', '.join(RISKS)}, optionally "
                            f"\"action_types\": [...]}}, got {authority!r}")
    types = authority.get("action_types")
    if types is not None and not (isinstance(types, list) and all(isinstance(t, str) for t in types)):
        raise RegistryError(f"{rid}'s authority.action_types must be a list of action types, got {types!r}")
    active = raw.get("active", True)
    if not isinstance(active, bool):
        raise RegistryError(f"{rid}'s active must be true or false, got {active!r}")
    trained = raw.get("trained_on")
    if trained is not None:
        try:
            date.fromisoformat(str(trained))
        except ValueError:
            raise RegistryError(f"{rid}'s trained_on must be a date like 2026-03-01, got {trained!r}") from None
    return Reviewer(rid, str(raw["email"]), tuple(principals), tuple(roles), authority["risk"],
                    None if types is None else tuple(types), active, None if trained is None else str(trained))


def check_policy(registry: Registry, document: dict[str, Any], tiers_of) -> None:
    """Synth-time checks of a policy against the registry: authorities name only known action
    types, and every tier has someone active who may decide the action type at its policy risk. ``tiers_of(action_type)`` gives the
    type's rules (``rules_for`` with the registry's expansion)."""
    for person in registry.reviewers:
        unknown = sorted(set(person.action_types or ()) - set(document["action_types"]))
        if unknown:
            raise RegistryError(f"{person.id}'s authority names unknown action type(s): {', '.join(unknown)}")
    for action_type in document["action_types"]:
        rules = tiers_of(action_type)
        for index, tier in enumerate(rules.tiers):
            deciders = [r for r in tier["reviewers"] if registry.refusal(r, action_type, rules.risk) is None]
            if len(deciders) < max(1, rules.quorum):
                raise RegistryError(f"policy {action_type}: {'nobody' if not deciders else 'too few'} active in "
                                    f"tier {index + 1} ({', '.join(tier['reviewers']) or 'none of its reviewers is active'}) may decide a "
                                    f"{rules.risk}-risk {action_type}" + (f" (quorum {rules.quorum})" if deciders else "")
                                    + "; give someone the authority, or change the tier")
