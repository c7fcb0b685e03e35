"""What ``countersign mcp`` offers agents, independent of the protocol: one tool per action type
of the deployed policy (its name, description and input schema), the proposal a call makes, and
what a verdict means to the agent (its result). The MCP server (``mcp_server``) only carries these.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from countersign.rules.autonomy import AUTONOMY
from countersign.rules.policy import merged_rules
from countersign.rules.proposal import PROPOSAL_SCHEMA, InvalidProposal
from countersign.rules.validation import SchemaError, load_schema, validate

WAIT, STATUS = "countersign_wait", "countersign_status"
KEY_PATTERN = load_schema(PROPOSAL_SCHEMA)["properties"]["idempotency_key"]["pattern"]
REVIEW_INPUT = {"type": "object", "additionalProperties": False, "required": ["review"], "properties": {
    "review": {"type": "string", "minLength": 1, "maxLength": 1024,
               "description": "the review's handle (its idempotency key, as a pending result gave it) or execution ARN"}}}
SUCCESS = ("approved", "auto_approved", "modified")


class Collision(ValueError):
    """Two action types (or one and a built-in tool) would have the same tool name."""


@dataclass(frozen=True)
class Tool:
    name: str
    action_type: str | None        # None for the built-in tools
    description: str
    input_schema: dict[str, Any]
    executes: bool = False         # the policy names an executor: Countersign runs the approved action


def tool_name(action_type: str) -> str:
    return action_type.replace(".", "_")


def catalogue(policy: dict[str, Any], advisory: bool = False, max_wait: float = 600) -> dict[str, Tool]:
    """The tools for this policy, by name: the action types with an executor (with ``advisory``,
    every action type), then ``countersign_wait`` and ``countersign_status``. Two action types
    that map to one name are refused (``Collision``), never one silently hidden by the other."""
    proposal = load_schema(PROPOSAL_SCHEMA)["properties"]
    tools: dict[str, Tool] = {}
    for action_type in sorted(policy["action_types"]):
        rules = merged_rules(policy, action_type)
        if action_type == AUTONOMY or not (rules.get("executor") or advisory):
            continue
        name = tool_name(action_type)
        if name in tools or name in (WAIT, STATUS):
            raise Collision(f"action types {tools[name].action_type if name in tools else name!r} and "
                            f"{action_type!r} both make the tool name {name!r}: rename one in the policy")
        evidence = {**proposal["evidence"], "maxItems": proposal["evidence"]["maxItems"] - 1}  # one is the client's
        schema = {"type": "object", "additionalProperties": False,
                  "required": ["parameters", "confidence", "summary", "reasoning", "evidence"],
                  "properties": {
                      "parameters": rules.get("parameters") or {"type": "object"},
                      "confidence": {**proposal["confidence"], "description": "your confidence that this action "
                                     "is right, 0..1; the policy decides from it whether a human must decide"},
                      "summary": {**proposal["action"]["properties"]["summary"],
                                  "description": "one line for the reviewer: what this action does"},
                      "reasoning": {**proposal["reasoning"], "description": "why, for the reviewer"},
                      "evidence": {**evidence, "description": "what supports it: [{label, value, url?}] (https URLs)"},
                      "idempotency_key": {"type": "string", "pattern": KEY_PATTERN, "description":
                                          "optional: a retry with the same key and content joins the same review"}}}
        tools[name] = Tool(name, action_type, describe(action_type, rules, max_wait), schema, bool(rules.get("executor")))
    tools[WAIT] = Tool(WAIT, None, f"Wait again (up to {_took(max_wait)}) for the verdict of a review a call left "
                       "pending; returns what the original call would have.", REVIEW_INPUT)
    tools[STATUS] = Tool(STATUS, None, "The state of a review, without waiting: pending (who was asked, the "
                         "deadline, whether a wait was cancelled) or its result.", REVIEW_INPUT)
    return tools


def describe(action_type: str, rules: dict[str, Any], max_wait: float) -> str:
    """What the action does (the policy's ``description``) and what the policy does with it."""
    threshold, veto = float(rules["auto_approve_threshold"]), rules.get("veto_threshold")
    if not rules["reversible"]:
        who = "irreversible: a human always decides"
    elif rules["risk"] in rules["always_human"]:
        who = f"{rules['risk']} risk: a human always decides"
    elif threshold >= 1:
        who = "a human always decides"
    else:
        who = f"a human decides below confidence {threshold:g}"
        if veto is not None:
            window = _took(rules["veto_window_seconds"])
            who += (f"; from {veto:g} it runs first and reviewers may reverse it within {window}"
                    if rules["hotl"] == "post_hoc" else f"; from {veto:g} it goes ahead after {window} unless vetoed")
        if rules["spot_check_rate"]:
            who += f"; {rules['spot_check_rate']:.0%} of confident proposals still go to a human"
    if rules.get("tiers"):
        asked = "; ".join(f"tier {i + 1}: {_names(t['reviewers'])}, {_took(t['timeout_seconds'])}"
                          for i, t in enumerate(rules["tiers"]))
    else:
        asked = f"{_names(rules.get('reviewers') or [])}, {_took(rules['review_timeout_seconds'])} to decide"
    quorum = f", {rules['quorum']} approvals needed" if rules["quorum"] > 1 else ""
    runs = ("On approval Countersign runs it (its executor) and returns the executor's result; refused, nothing runs."
            if rules.get("executor") else
            "Advisory: Countersign does not run this action. On approval you carry it out yourself, so nothing "
            "enforces the verdict.")
    return (f"{rules.get('description') or f'Propose a {action_type} action.'} Policy: {who}. Reviewers: {asked}"
            f"{quorum}; no decision in time refuses it. {runs} A call waits up to {_took(max_wait)}, then returns "
            f"the review, pending, to continue with {WAIT}.")


def _names(reviewers: list[str]) -> str:
    return ", ".join(f"anyone with role {r[5:]}" if r.startswith("role:") else r for r in reviewers) or \
        "any configured reviewer"


def _took(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def proposal_for(tool: Tool, arguments: Any, client: dict[str, Any] | None) -> dict[str, Any]:
    """The proposal a call makes, after its arguments satisfy the tool's schema (``InvalidProposal``
    with the argument's path otherwise). The MCP client's declared ``clientInfo`` goes into the
    evidence, marked unverified: context for the reviewer, never the requester."""
    try:
        validate(arguments, tool.input_schema)
    except SchemaError as exc:
        raise InvalidProposal([{"path": exc.path, "message": exc.message}]) from None
    evidence = list(arguments["evidence"])
    if client:
        declared = " ".join(str(client.get(k) or "") for k in ("name", "version")).strip()[:2000]
        evidence.append({"label": "MCP client (declared by the client, unverified)", "value": declared or "unnamed"})
    proposal = {"schema_version": "1", "action": {"type": tool.action_type, "summary": arguments["summary"],
                                                  "parameters": arguments["parameters"]},
                "confidence": arguments["confidence"], "reasoning": arguments["reasoning"], "evidence": evidence}
    if arguments.get("idempotency_key"):
        proposal["idempotency_key"] = arguments["idempotency_key"]
    return proposal


@dataclass(frozen=True)
class Result:
    """A tool's answer: a sentence, the structured document, and whether it is an error."""
    text: str
    structured: dict[str, Any]
    is_error: bool = False


def invalid(errors: list[dict[str, str]]) -> Result:
    where = "; ".join(f"{e['path']}: {e['message']}" for e in errors)
    return Result(f"invalid arguments, nothing was started: {where}",
                  {"outcome": "invalid", "errors": errors, "started": False}, True)


def pending(key: str, arn: str, progress: Any, why: str) -> Result:
    """Not decided yet: not an error. Names the review and the tool that continues the wait."""
    doc = {"outcome": "pending", "review": key, "execution_arn": arn, "waiting_on": list(progress.waiting_on),
           "deadline": progress.deadline, "progress": progress.describe(), "continue_with": {
               "tool": WAIT, "arguments": {"review": key}}}
    return Result(f"pending ({why}): {progress.describe()}. The review stays open; call {WAIT} with "
                  f'{{"review": "{key}"}} to wait for its verdict.', doc)


def verdict_result(key: str, verdict: dict[str, Any], proposal: dict[str, Any] | None,
                   policy_version: str | None) -> Result:
    """A finished review as the agent sees it (``verdict`` as ``client.verdict_of`` gives it)."""
    from countersign.review.reviews import diff_values

    outcome = verdict["outcome"]
    version = verdict.get("policy_version") or policy_version
    doc: dict[str, Any] = {"outcome": outcome, "review": key, "execution_arn": verdict["executionArn"],
                           "policy_version": version}
    if "route" not in verdict:                     # failed or refused in the workflow: no verdict document
        doc.update(error=verdict.get("error"), cause=verdict.get("cause"))
        said = "halted by the kill switch: nothing runs" if outcome == "halted" else \
            f"{outcome}: {verdict.get('error')}: {verdict.get('cause') or ''}".rstrip(": ")
        return Result(f"{said} (policy {version}). Do not carry out this action.", doc, True)
    executed = verdict.get("execution")
    decider = next((r for r in verdict.get("reviewers", []) if r.get("decision") == outcome), None)
    doc.update(route=verdict["route"], reviewers=verdict.get("reviewers", []), rationale=verdict.get("rationale"),
               reason=verdict.get("reason"), final_action=verdict.get("final_action"),
               receipt=verdict.get("receipt"))      # the signed decision receipt, when the action may proceed
    by = f" by {decider['id']}" if decider else ""
    if outcome not in SUCCESS:
        why = f" ({verdict['reason']})" if verdict.get("reason") else ""
        said = f": {verdict['rationale']}" if verdict.get("rationale") else ""
        return Result(f"{outcome}{by}{why}{said} (policy {version}). Do not carry out this action.", doc, True)
    changes = ""
    if outcome == "modified" and proposal is not None:
        doc["changes"] = diff_values(proposal["action"]["parameters"], verdict["final_action"]["parameters"],
                                     "$.parameters")
        changes = " Changes: " + ", ".join(f"{d['path'].removeprefix('$.parameters.')}: {json.dumps(d['before'])} "
                                           f"→ {json.dumps(d['after'])}" for d in doc["changes"]) + "."
    head = f"{outcome}{by} via {verdict['route']} (policy {version}).{changes}"
    if executed and executed.get("status") == "failed":
        doc.update(result=None, error={"phase": executed["phase"], "error": executed["error"],
                                       "message": executed["message"]})
        return Result(f"{head} The executor failed ({executed['phase']}): {executed['error']}: "
                      f"{executed['message']}", doc, True)
    if executed:
        doc["result"] = executed.get("result")
        return Result(f"{head} Countersign ran it; the executor's result: {json.dumps(doc['result'])}", doc)
    return Result(f"{head} Carry out final_action yourself (advisory: Countersign does not run it).", doc)
