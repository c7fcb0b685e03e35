"""The workflow's closing steps: run the action where the policy has an executor, write the
closing audit record and return the verdict (the execution's output).

Modes are the workflow states that call in here. Concluding: ``auto``, ``unvetoed`` (the veto
window closed), ``kept`` (the post-hoc reverse window closed), ``expired`` (no decision: refused)
and ``decided``. Not concluding, they return the state with what the executor did: ``stage``
(post-execution review) and ``execute_first`` (HOTL post-hoc).
"""
from __future__ import annotations

from typing import Any, Protocol

from . import audit
from .case import Case
from .deps import Deps
from .reviews import EXPIRED, PENDING

ROUTE_OF_MODE = {"review": "human_review", "veto": "veto_window", "signoff": "post_execution", "reverse": "post_hoc"}


class ExecutorFailed(RuntimeError):
    def __init__(self, error: str, message: str) -> None:
        super().__init__(f"{error}: {message}")
        self.error, self.message = error, message


class Executor(Protocol):
    def run(self, function_arn: str, payload: dict[str, Any]) -> Any:
        """Invoke synchronously; return the result or raise ExecutorFailed."""


def run_step(state: dict[str, Any], mode: str, deps: Deps) -> dict[str, Any]:
    """``stage`` or ``execute_first``: run the executor now; a failure fails the workflow (closed)."""
    route = "post_execution" if mode == "stage" else "post_hoc"
    case = Case.from_state({**state, "route": route})
    phase = "stage" if mode == "stage" else "execute"
    done = _run(case, deps, case.rules.executor, phase, case.action)
    if done["status"] != "succeeded":
        raise ExecutorFailed(done["error"], done["message"])
    return {**state, "executed": done}


def conclude(state: dict[str, Any], mode: str, deps: Deps) -> dict[str, Any]:
    route = {"auto": "auto", "unvetoed": "veto_window", "kept": "post_hoc"}.get(mode, "human_review")
    case = Case.from_state({**state, "route": route})
    reviewers: list[dict[str, Any]] = []
    rationale, note, execution = None, None, None
    if mode in ("auto", "unvetoed"):
        if mode == "unvetoed":
            deps.reviews.transition(case.review_id, PENDING, EXPIRED)
            note = "the veto window closed without a veto: the action proceeds"
        outcome, final_action = "auto_approved", case.action
        execution = _run(case, deps, case.rules.executor, "execute", final_action)
    elif mode == "kept":
        deps.reviews.transition(case.review_id, PENDING, EXPIRED)
        outcome, final_action, execution = "auto_approved", case.action, case.executed
        note = "the reverse window closed: the executed action stands"
    elif mode == "expired":
        deps.reviews.transition(case.review_id, PENDING, EXPIRED)
        outcome, final_action = "expired", None
        note = "no decision before the deadline: refused (fail closed)"
        if case.executed:   # staged but never signed off: roll it back
            execution = _run(case, deps, case.rules.executor, "discard", case.action)
    else:
        review = deps.reviews.get(case.review_id)
        decision, route = review.decision, ROUTE_OF_MODE[review.mode]
        case = Case.from_state({**state, "route": route})
        outcome, final_action, execution = _decided(case, review.mode, decision, deps)
        rationale = decision.rationale
        reviewers = [{"id": v["reviewer"], "decision": outcome if v["decision"] == decision.outcome else v["decision"],
                      "rationale": v["rationale"], "decided_at": v["decided_at"]} for v in decision.all_votes()]
    event = {"auto_approved": "auto_approved", "expired": "expired"}.get(outcome, "verdict_issued")
    record = audit.append(deps.audit, case.execution.audit_stream, event, {
        **case.audit_fields(), "actor": "system:conclude", "outcome": outcome, "final_action": final_action,
        **({"note": note} if note else {}), **({"execution_result": execution} if execution else {}),
    })
    return {
        "outcome": outcome,
        "final_action": final_action,
        "reviewers": reviewers,
        "rationale": rationale,
        "route": route,
        "policy_version": case.rules.version,
        "review_id": case.review_id if route != "auto" else None,
        "execution": execution,
        "audit": {"bucket": deps.audit_bucket, "stream": case.execution.audit_stream,
                  "records": record["seq"], "head": record["hash"]},
    }


def _decided(case: Case, mode: str, decision, deps: Deps) -> tuple[str, Any, dict | None]:
    """(outcome, final action, what the executor did) for a human decision in each review mode."""
    approved = decision.outcome in ("approved", "modified")
    if mode == "signoff":      # post-execution review: promote the staged result, or discard it
        phase = "promote" if approved else "discard"
        return (decision.outcome if approved else "rejected", decision.final_action,
                _run(case, deps, case.rules.executor, phase, case.action))
    if mode == "reverse":      # HOTL post-hoc: keep the executed action, or run the compensation
        if approved:
            return "approved", case.action, case.executed
        return "reversed", None, _run(case, deps, case.rules.compensation, "compensate", case.action)
    if not approved:
        return ("vetoed" if mode == "veto" else "rejected"), None, None
    return decision.outcome, decision.final_action, _run(case, deps, case.rules.executor, "execute",
                                                         decision.final_action)


def _run(case: Case, deps: Deps, function_arn: str | None, phase: str, action: Any) -> dict[str, Any] | None:
    """Invoke an executor for one phase; audit what happened; never raise (failures are data)."""
    if not function_arn:
        return None                                     # no executor: the caller acts on the verdict
    payload = {"phase": phase, "action": action, "review_id": case.review_id, "execution": case.execution.arn,
               "policy_version": case.rules.version, "staged": (case.executed or {}).get("result")}
    try:
        done = {"phase": phase, "status": "succeeded", "function": function_arn,
                "result": deps.executor.run(function_arn, payload)}
    except ExecutorFailed as exc:
        done = {"phase": phase, "status": "failed", "function": function_arn, "error": exc.error,
                "message": exc.message[:1000]}
    audit.append(deps.audit, case.execution.audit_stream,
                 "action_executed" if done["status"] == "succeeded" else "execution_failed",
                 {**case.audit_fields(), "actor": "system:executor", **done}, event_key=f"executor.{phase}")
    return done
