"""What the agent-side end-to-end tests share: the policy their sandbox runs, a refund's tool
arguments, the command an agent host starts `countersign mcp` with, and what the demo executors did."""
from __future__ import annotations

import json
import sys
import urllib.request

REFUND = {"type": "object", "additionalProperties": False, "required": ["customer_id", "amount", "currency"],
          "properties": {"customer_id": {"type": "string"}, "amount": {"type": "number", "exclusiveMinimum": 0,
                                                                      "maximum": 10000},
                         "currency": {"enum": ["USD", "EUR", "GBP"]}}}
GRANT = {"type": "object", "required": ["principal", "role", "duration_hours"],
         "properties": {"principal": {"type": "string"}, "role": {"type": "string"},
                        "duration_hours": {"type": "integer", "minimum": 1, "maximum": 72}}}
REPLY = {"type": "object", "required": ["ticket_id", "body"],
         "properties": {"ticket_id": {"type": "string"}, "body": {"type": "string"}}}
POLICY = {
    "default": {"auto_approve_threshold": 0.9, "review_timeout_seconds": 3600, "reversible": True},
    "action_types": {
        "refund.issue": {"description": "Refund a customer's charge through the payment provider.",
                         "auto_approve_threshold": 0.95, "parameters": REFUND},
        "access.grant": {"parameters": GRANT, "tiers": [{"reviewers": ["alice"], "timeout_seconds": 3},
                                                        {"reviewers": ["bob"], "timeout_seconds": 600}]},
        "ticket.reply": {"risk": "low", "parameters": REPLY},
        "notice.send": {"description": "Post a notice on the status page."},       # no demo executor
    },
}
# examples/refund.json's refund as tool arguments: its confidence routes it to a human (below 0.95)
ARGS = {"parameters": {"customer_id": "1182", "amount": 420, "currency": "USD"}, "confidence": 0.72,
        "reasoning": "Order 5531 was captured twice 14 s apart.", "evidence": [{"label": "order", "value": "5531"}]}


def refund(marker: str, **changes) -> dict:
    return {**ARGS, "summary": f"Refund case {marker}", **changes}


def mcp_command(sandbox, *flags: str) -> list[str]:
    """`countersign mcp` against the sandbox, as an agent host starts it (run from the repository root)."""
    return [sys.executable, "-m", "countersign", "mcp", "--endpoint", sandbox["aws"], *flags]


def effects(sandbox, execution_arn: str) -> list[dict]:
    """What the sandbox's demo executors did for one execution (/effects.json)."""
    with urllib.request.urlopen(sandbox["web"] + "/effects.json") as got:
        return [e for e in json.load(got) if e["execution"] == execution_arn]
