"""The sandbox's demo executors: one Lambda function per example action type (``examples/*.json``),
so a newcomer sees an approved action actually run, once.

``countersign local`` only (never ``cdk deploy``): the sandbox names them as the ``executor`` of
those action types in the policy it synthesizes, creates them in moto and runs this module's
``handler`` in-process, like every other function. Each records what it did (the phase, the final
action, the idempotency key) exactly once per idempotency key, that is once per phase per execution
and review, in ``LEDGER``, which the sandbox serves at ``/effects`` and ``/effects.json``. Nothing
outside this machine is touched.

Like a real executor, each checks the decision receipt before it acts: ``execute`` and
``promote`` (the phases that make a decided action take effect) need a receipt signed by the
stack's receipt key, pinned at init from ``RECEIPT_PUBLIC_KEY``, for exactly the action in the
request and not expired. So invoking one directly gains nothing. ``stage`` (before any verdict,
reversible), ``discard`` and ``compensate`` (undoing) need none.
"""
from __future__ import annotations

import hashlib
import io
import os
import threading
import zipfile
from datetime import datetime, timezone
from typing import Any, Callable

PREFIX = "countersign-sandbox-demo-"
PHASES = {"stage": "staged", "promote": "promoted", "discard": "discarded", "compensate": "reversed"}
NEEDS_RECEIPT = ("execute", "promote")
PINNED_KEY = os.environ.get("RECEIPT_PUBLIC_KEY", "")     # this function's pinned receipt key (PEM), read at init


def _refund(p: dict[str, Any], ref: str) -> dict[str, Any]:
    return {"refund_id": f"rf-{ref}", "customer_id": p["customer_id"], "amount": p["amount"],
            "currency": p["currency"], "status": "refunded"}


def _deploy(p: dict[str, Any], ref: str) -> dict[str, Any]:
    return {"deployment_id": f"dp-{ref}", "service": p["service"], "version": p["version"], "status": "deployed"}


def _bulk_email(p: dict[str, Any], ref: str) -> dict[str, Any]:
    return {"batch_id": f"eb-{ref}", "segment": p["segment"], "template": p["template"],
            "recipients": p["recipients"], "status": "queued"}


def _grant(p: dict[str, Any], ref: str) -> dict[str, Any]:
    return {"grant_id": f"ag-{ref}", "principal": p["principal"], "role": p["role"],
            "duration_hours": p["duration_hours"], "status": "granted"}


def _reply(p: dict[str, Any], ref: str) -> dict[str, Any]:
    return {"message_id": f"tr-{ref}", "ticket_id": p["ticket_id"], "characters": len(p["body"]), "status": "sent"}


# action type → what its demo executor does with the final action's parameters
DEMOS: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
    "refund.issue": _refund, "deploy.production": _deploy, "email.bulk_send": _bulk_email,
    "access.grant": _grant, "ticket.reply": _reply}


def function_name(action_type: str) -> str:
    return PREFIX + action_type.replace(".", "-").replace("_", "-")


def function_arn(action_type: str, account: str, region: str) -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{function_name(action_type)}"


def with_demo_executors(policy: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    """The policy with a demo executor for each example action type it declares without one."""
    types = {name: ({**rules, "executor": function_arn(name, account, region)}
                    if name in DEMOS and not rules.get("executor") else rules)
             for name, rules in policy["action_types"].items()}
    return {**policy, "action_types": types}


def create(policy: dict[str, Any], lambda_client: Any, iam_client: Any, receipt_key_pem: str) -> list[str]:
    """Create the functions ``policy`` names as demo executors, pinned to the stack's receipt key;
    returns their names."""
    wanted = sorted({rules["executor"].rsplit(":", 1)[1] for rules in policy["action_types"].values()
                     if rules.get("executor", "").rsplit(":", 1)[-1].startswith(PREFIX)})
    if not wanted:
        return []
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("README.txt", "the handler runs in-process from countersign/sandbox/executors.py")
    role = iam_client.create_role(RoleName=PREFIX + "executor", AssumeRolePolicyDocument=(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", '
        '"Principal": {"Service": "lambda.amazonaws.com"}}]}'))["Role"]["Arn"]
    for name in wanted:
        lambda_client.create_function(FunctionName=name, Runtime="python3.12", Role=role, Timeout=30,
                                      Handler="countersign.sandbox.executors.handler",
                                      Code={"ZipFile": code.getvalue()},
                                      Environment={"Variables": {"RECEIPT_PUBLIC_KEY": receipt_key_pem}},
                                      Description="Countersign sandbox demo executor: records what it would do")
    return wanted


class Ledger:
    """What the demo executors did: one record per idempotency key, in the order done."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: dict[str, dict[str, Any]] = {}

    def once(self, key: str, record: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The record for ``key``, made by ``record()`` the first time only."""
        with self._lock:
            if key not in self._done:
                self._done[key] = record()
            return self._done[key]

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._done.values())


LEDGER = Ledger()


class Refused(ValueError):
    """This invocation may not act: not an executor request, or no valid receipt for its action."""


def accept(event: dict[str, Any], pinned_key: str) -> tuple[str, dict[str, Any], str]:
    """The request as this executor acts on it: (phase, final action, idempotency key). The one
    place that decides whether an invocation may act."""
    from countersign import receipts

    phase, action, key = event.get("phase"), event.get("action"), event.get("idempotency_key")
    if phase not in ("execute", *PHASES) or not isinstance(action, dict) or not key:
        raise Refused("not an executor request: phase, action and idempotency_key are required")
    if action.get("type") not in DEMOS:
        raise Refused(f"no demo executor for action type {action.get('type')!r}")
    if phase in NEEDS_RECEIPT:
        if not event.get("receipt"):
            raise Refused(f"refused to {phase}: no decision receipt")
        try:
            receipts.verify(event["receipt"], action, pinned_key)
        except (receipts.InvalidReceipt, ValueError) as exc:
            raise Refused(f"refused to {phase}: the decision receipt is not valid: {exc}") from None
    return phase, action, key


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point: act once per idempotency key; a repeat returns the first result."""
    phase, action, key = accept(event, PINNED_KEY)
    ref = hashlib.sha256(key.encode()).hexdigest()[:12]

    def act() -> dict[str, Any]:
        done = DEMOS[action["type"]](action["parameters"], ref) if phase == "execute" else \
            {"status": PHASES[phase], "of": event.get("staged")}
        return {"at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "function": getattr(context, "function_name", None), "execution": event.get("execution"),
                "review_id": event.get("review_id"), "phase": phase, "action": action, "idempotency_key": key,
                "result": {**done, "demo": True}}

    from countersign.sandbox import executors    # the shared module: the runtime loads a copy per function
    return executors.LEDGER.once(key, act)["result"]
