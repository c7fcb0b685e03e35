"""The approval gate's first step, Prepare: validate the proposal, attach its rules and routing
facts, audit its arrival.

What one Lambda does, minus the event parsing; ``Deps`` carries the adapters. It imports only what
Prepare needs (the review-request code is in ``workflow.gate``), since every proposal passes here.
"""
from __future__ import annotations

from typing import Any

from countersign.adapters.deps import Deps
from countersign.evidence import audit
from countersign.evidence.identity import identities
from countersign.review.reviews import resolve_proposers
from countersign.rules import canonical
from countersign.rules.autonomy import AUTONOMY, effective
from countersign.rules.policy import checked_document
from countersign.rules.proposal import InvalidProposal, check
from countersign.rules.routing import expected_route, facts, spot_check
from countersign.workflow.case import Case, Execution
from countersign.workflow.submission import submitters, unwrap


def prepare(received: Any, execution: dict[str, str], deps: Deps) -> dict[str, Any]:
    """Validate the proposal (the execution input, or the authenticated submit path's envelope),
    attach its rules and routing facts. A refusal is audited and returned, not raised, so the
    workflow's Choice state ends the execution on it."""
    ex = Execution(execution["Id"], execution["Name"], execution["StartTime"])
    document = in_effect(deps)
    submitted_by = None
    try:
        proposal, submitted_by = unwrap(received)
        if submitted_by is None and deps.authenticated_only:
            raise InvalidProposal([{"path": "$", "message": "this gate takes proposals only through its "
                                    "authenticated submit path (POST /submissions, IAM-signed)"}])
        registry = deps.load_registry()
        rules = check(proposal, document, list(deps.reviewers), registry.expand)
        if rules.action_type == AUTONOMY and (not deps.calibrator or submitted_by != deps.calibrator):
            raise InvalidProposal([{"path": "$.action.type", "message": f"{AUTONOMY} is proposed only by this "
                                    "stack's calibrator; a threshold change cannot be submitted"}])
    except InvalidProposal as exc:
        audit.append(deps.audit, ex.audit_stream, "refused_request", {
            "execution": {"arn": ex.arn, "name": ex.name, "started_at": ex.started_at},
            "actor": "system:prepare", "reason": "invalid proposal", "errors": exc.errors,
            "submitted_by": submitted_by, "policy": {"version": document["version"]},
        })
        return {"refusal": {"reason": "invalid proposal", "errors": exc.errors}}
    sampled = spot_check(deps.mac, ex.arn, ex.started_at, rules.version)
    route_facts = {**facts(proposal, rules, sampled["draw"], deps.load_kill_switch()),
                   "submitted_by": submitted_by,   # the IAM principal, on the authenticated path only
                   "proposed_by": sorted(set(resolve_proposers(proposal.get("requested_by"), registry.directory))
                                         | set(submitters(submitted_by, registry.principals)))}
    involved = [r for tier in (rules.tiers or ({"reviewers": rules.reviewers},)) for r in tier["reviewers"]]
    names = identities(deps.reviewer_identity, deps.mac, [*involved, *route_facts["proposed_by"]], deps.pseudonyms)
    case = Case(proposal, rules, ex, ex.review_id(0), route="received", facts=route_facts, identities=names)
    route, reason = expected_route(case.confidence, rules, route_facts)
    event = "refused_request" if route == "halted" else "proposal_received"
    audit.append(deps.audit, ex.audit_stream, event, case.record({
        "actor": "system:prepare", "proposal": proposal, "input_sha256": canonical.sha256(proposal),
        "expected_route": route, "route_reason": reason, "spot_check": sampled}))
    return case.to_state()


def in_effect(deps: Deps) -> dict[str, Any]:
    """The policy that routes now: the deployed one (checked against its hash) with the calibrated
    adjustments beside it (``rules.autonomy``)."""
    deployed = checked_document(deps.load_policy())
    return effective(deployed, deps.autonomy.current()[1]) if deps.autonomy is not None else deployed
