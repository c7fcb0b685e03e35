"""Signed decision receipts from the real workflow: an approved action's executor and verdict carry
one receipt, signed by the stack's key, that verifies offline with the exported public key and whose
hash the closing audit record holds; the CLI writes it with --receipt-out; a verdict that lets nothing
proceed carries none."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone

from countersign import receipts
from countersign.cli import commands as cli
from countersign.rules import canonical
from tests.fixtures import ledger
from tests.helpers import decide, proposal, review_id_of, review_link, unique
from tests.workflows.test_execution import action, verdict


def exported_key(stack, tmp_path, capsys) -> str:
    """`countersign receipt public-key --out`, as someone with read access to the key runs it once
    (into a folder a fresh checkout does not have yet)."""
    path = tmp_path / ".countersign" / "receipts.pem"
    assert cli.main(["receipt", "public-key", "--stack", stack.deployment.stack_name, "--out", str(path)]) == 0
    assert capsys.readouterr().err == f"wrote the receipt public key to {path}\n"
    return path.read_text()


def test_an_approved_action_carries_a_receipt_to_its_executor_and_in_its_verdict(stack, tmp_path, capsys):
    arn = stack.start(proposal(confidence=0.5, action=action("runs.action", amount=42)), unique("receipt"))
    review_id = review_id_of(stack, arn)
    assert decide(stack, review_link(stack, arn), "approve", "Matches the ticket.").status == 200
    result = verdict(stack, arn)
    [payload] = [e for e in ledger.INVOCATIONS if e.get("execution") == arn]
    assert payload["phase"] == "execute" and payload["receipt"] == result["receipt"]

    pem = exported_key(stack, tmp_path, capsys)
    claims = receipts.verify(payload["receipt"], payload["action"], pem)
    decided = datetime.fromisoformat(claims["decided_at"].replace("Z", "+00:00"))
    assert claims == {"schema": "countersign.receipt/1", "review_id": review_id, "execution_arn": arn,
                      "proposal_sha256": result["proposal_sha256"],
                      "final_action_sha256": canonical.sha256(result["final_action"]), "outcome": "approved",
                      "deciders": ["alice"], "policy_version": result["policy_version"],
                      "decided_at": claims["decided_at"],
                      "not_after": (decided + timedelta(hours=24)).isoformat(timespec="milliseconds")
                      .replace("+00:00", "Z")}
    assert abs(datetime.now(timezone.utc) - decided) < timedelta(minutes=1)
    [closing] = [r for r in stack.execution_records(arn) if r["event"] == "verdict_issued"]
    assert closing["receipt_sha256"] == hashlib.sha256(result["receipt"].encode("ascii")).hexdigest()

    # the pipeline's side: wait writes the receipt; verify checks it with the pinned key, offline
    out, final_action = tmp_path / "receipt.jws", tmp_path / "final_action.json"
    assert cli.main(["wait", arn, "--stack", stack.deployment.stack_name, "--json", "--receipt-out", str(out)]) == 0
    printed = capsys.readouterr()
    assert json.loads(printed.out)["receipt"] == out.read_text().strip() == result["receipt"]
    assert f"receipt written to {out}\n" in printed.err
    final_action.write_text(json.dumps(result["final_action"]))
    assert cli.main(["receipt", "verify", str(out), "--action", str(final_action),
                     "--public-key", str(tmp_path / ".countersign" / "receipts.pem")]) == 0
    assert capsys.readouterr().out == f"valid: approved by alice, execution {arn}, until {claims['not_after']}\n"
    # without a pinned key, the command reads the stack's (AWS access)
    assert cli.main(["receipt", "verify", str(out), "--action", str(final_action),
                     "--stack", stack.deployment.stack_name]) == 0


def test_an_auto_approval_with_no_executor_names_no_review_and_no_decider(stack, tmp_path, capsys):
    submitted = proposal(confidence=0.97)
    arn = stack.start(submitted, unique("receipt-auto"))
    result = verdict(stack, arn)
    assert result["outcome"] == "auto_approved" and result["execution"] is None
    claims = receipts.verify(result["receipt"], submitted["action"], exported_key(stack, tmp_path, capsys))
    assert (claims["outcome"], claims["review_id"], claims["deciders"]) == ("auto_approved", None, [])
    [closing] = [r for r in stack.execution_records(arn) if r["event"] == "auto_approved"]
    assert closing["receipt_sha256"] == hashlib.sha256(result["receipt"].encode("ascii")).hexdigest()


def test_a_rejected_action_carries_no_receipt_and_wait_leaves_no_receipt_file(stack, tmp_path, capsys):
    arn = stack.start(proposal(confidence=0.5, action=action("runs.action", amount=13)), unique("receipt-no"))
    assert decide(stack, review_link(stack, arn), "reject", "Not this customer.").status == 200
    assert verdict(stack, arn)["receipt"] is None
    [closing] = [r for r in stack.execution_records(arn) if r["event"] == "verdict_issued"]
    assert closing["outcome"] == "rejected" and "receipt_sha256" not in closing
    stale = tmp_path / "receipt.jws"
    stale.write_text("a receipt from an earlier run\n")
    assert cli.main(["wait", arn, "--stack", stack.deployment.stack_name, "--json", "--receipt-out", str(stale)]) == 2
    assert json.loads(capsys.readouterr().out)["receipt"] is None and not stale.exists()
    assert not [e for e in ledger.INVOCATIONS if e.get("execution") == arn]
