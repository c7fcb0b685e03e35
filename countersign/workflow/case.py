"""A case: one proposal travelling through the workflow, with the rules that apply to it.

The workflow state *is* the case (``to_state``/``from_state``), so every Lambda in the workflow
reads and writes the same shape and no step has to look anything up to know what it is handling.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from countersign.rules.policy import Rules


GATE_ROUTES = ("human_review", "veto_window", "post_execution", "post_hoc")


@dataclass(frozen=True)
class Execution:
    arn: str
    name: str
    started_at: str  # ISO 8601, from the workflow's context object
    stream: str = ""  # set for a canary: its records go to its own stream (``workflow.canary``)

    @property
    def state_machine(self) -> str:
        return self.arn.split(":")[-2] if self.arn.count(":") >= 7 else "unknown"

    @property
    def audit_stream(self) -> str:
        """Where this execution's audit records live: date, workflow, execution."""
        if self.stream:
            return self.stream
        day = self.started_at[:10].replace("-", "/")
        return f"executions/{day}/{self.state_machine}/{self.name}"

    def review_id(self, tier: int, purpose: str = "") -> str:
        """The review of one tier of this execution, derived (not drawn), so a retried step
        reuses it. The link's MAC, not the id, is what grants access. ``purpose`` tells apart a
        review the kill switch holds for a human after a window closed."""
        seed = f"{self.arn}|{self.started_at}|{tier}{'|' + purpose if purpose else ''}".encode()
        return "rv-" + hashlib.sha256(seed).hexdigest()[:20]


@dataclass(frozen=True)
class Case:
    proposal: dict[str, Any]
    rules: Rules
    execution: Execution
    review_id: str
    route: str = "pending"
    facts: dict[str, Any] = field(default_factory=dict)   # what the Choice state routes on
    tier: int = 0                                         # the escalation tier being asked
    executed: dict[str, Any] | None = None                # what the executor did (staged, or done first)
    identities: dict[str, str] = field(default_factory=dict)   # reviewer id → pseudonym (pseudonym mode only)
    canary: dict[str, Any] | None = None                  # {breaks, source_execution}: a known-bad variant

    @property
    def current_tier(self) -> dict[str, Any]:
        tiers = self.rules.tiers or ({"reviewers": self.rules.reviewers, "timeout_seconds": self.rules.review_timeout_seconds},)
        tier = tiers[self.tier]
        return {"index": self.tier, "reviewers": list(tier["reviewers"]), "timeout_seconds": tier["timeout_seconds"],
                "last": self.tier == len(tiers) - 1}

    def window(self, route: str) -> int:
        """How long a gate waits, in seconds: the one source of both the workflow's timer (the
        gate's ``TimeoutSecondsPath`` reads ``$.windows.<route>``) and the stored deadline."""
        return self.rules.veto_window_seconds if route in ("veto_window", "post_hoc") \
            else self.current_tier["timeout_seconds"]

    @property
    def action(self) -> dict[str, Any]:
        return self.proposal["action"]

    @property
    def confidence(self) -> float:
        return float(self.proposal["confidence"])

    def to_state(self) -> dict[str, Any]:
        return {
            "proposal": self.proposal,
            "policy": self.rules.snapshot(),
            "execution": {"arn": self.execution.arn, "name": self.execution.name,
                          "started_at": self.execution.started_at,
                          **({"stream": self.execution.stream} if self.execution.stream else {})},
            "review_id": self.review_id,
            "facts": self.facts,
            "current_tier": self.current_tier,
            "windows": {route: self.window(route) for route in GATE_ROUTES},   # the gates' timers read these
            **({"executed": self.executed} if self.executed else {}),
            **({"identities": self.identities} if self.identities else {}),
            **({"canary": self.canary} if self.canary else {}),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "Case":
        ex = state["execution"]
        return cls(
            proposal=state["proposal"],
            rules=Rules.from_snapshot(state["policy"]),
            execution=Execution(ex["arn"], ex["name"], ex["started_at"], ex.get("stream", "")),
            review_id=state["review_id"],
            route=state.get("route", "pending"),
            facts=state.get("facts", {}),
            tier=int(state.get("current_tier", {}).get("index", 0)),
            executed=state.get("executed"),
            identities=state.get("identities") or {},
            canary=state.get("canary"),
        )

    @property
    def proposal_sha256(self) -> str:
        from countersign.rules.proposal import content_hash

        return content_hash(self.proposal)

    def named(self, reviewer: str) -> str:
        """How this case's audit records name a reviewer (see ``countersign.evidence.identity``)."""
        from countersign.evidence.identity import name

        return name(reviewer, self.identities)

    def record(self, fields: dict[str, Any]) -> dict[str, Any]:
        """``audit_fields`` plus an event's own fields, reviewers named as the case's records name them."""
        from countersign.evidence.identity import masked

        return masked({**self.audit_fields(), **fields}, self.identities)

    def audit_fields(self) -> dict[str, Any]:
        """What every audit record of this case carries (Art. 12: what, how sure, which rules)."""
        return {
            "execution": {"arn": self.execution.arn, "name": self.execution.name,
                          "started_at": self.execution.started_at},
            "review_id": self.review_id,
            "proposal_sha256": self.proposal_sha256,    # what this execution is bound to
            "action_type": self.action["type"],
            "action_summary": self.action["summary"],
            "confidence": self.confidence,
            "route": self.route,
            "facts": self.facts,
            "policy": {"version": self.rules.version,
                       "auto_approve_threshold": self.rules.auto_approve_threshold,
                       "veto_threshold": self.rules.veto_threshold,
                       "review_timeout_seconds": self.rules.review_timeout_seconds},
            "model": self.proposal.get("model"),
            "requested_by": self.proposal.get("requested_by"),
            **({"canary": self.canary} if self.canary else {}),
        }
