"""`report compliance --athena`: the pack's trail figures from the named queries instead of the
records. Athena does not run here, so the same SQL runs on DuckDB over the deployed trail in its
place (``run_local``), which is exactly the definition the named queries carry."""
from __future__ import annotations

import json

import boto3
import pytest

from countersign.evidence import audit_queries, trail

from countersign.cli import commands as cli, client
from countersign.evidence.compliance import figures
from tests.helpers import proposal, unique


def test_the_pack_from_athena_has_every_count_the_records_give_and_says_integrity_was_not_checked(
        stack, tmp_path, monkeypatch, capsys):
    stack.wait(stack.start(proposal(confidence=0.97), unique("pack-athena")))
    real_find, seen = client.Target.find, {}

    def find(name, endpoint=None, region=None):          # the outputs AWS has, which moto's stack lacks
        found = real_find(name, endpoint, region)
        found.outputs.update(AuditWorkGroupName="countersign-test-audit", AuditDatabaseName="countersign_test_audit")
        return found

    def athena_in_duckdb(athena, workgroup, database, names=audit_queries.QUERIES, **_):
        seen.update(workgroup=workgroup, database=database)
        target = client.Target(stack.deployment.stack_name, stack.deployment.outputs, boto3.session.Session())
        seen["objects"] = trail.read(target)
        return audit_queries.run_local(seen["objects"], names)

    monkeypatch.setattr(client.Target, "find", staticmethod(find))
    monkeypatch.setattr(audit_queries, "run_athena", athena_in_duckdb)
    out = tmp_path / "pack"
    code = cli.main(["report", "compliance", "--out", str(out), "--athena", "--stack", stack.deployment.stack_name])
    assert code == 0, capsys.readouterr().err
    assert seen["workgroup"] == "countersign-test-audit" and seen["database"] == "countersign_test_audit"
    facts = json.loads((out / "evidence.json").read_text())
    expected = figures.summarise(figures.records_of(seen["objects"]))
    for figure in ("records", "events", "decisions", "overrides", "expiries", "refusals", "kill_switch_flips"):
        assert facts["figures"][figure] == json.loads(json.dumps(expected[figure])), figure
    assert facts["figures"]["time_to_decision"]["reviews"] == expected["time_to_decision"]["reviews"]
    assert facts["integrity"]["intact"] is None
    art_12_1 = next(i for i in facts["checklist"] if i["article"] == "Art. 12(1)")
    assert art_12_1["status"] == "partly evidenced" and "not checked in this run" in art_12_1["note"]
    assert "Integrity not checked in this run." in (out / "index.html").read_text()


def test_athena_takes_the_whole_trail_only(capsys):
    with pytest.raises(SystemExit) as usage:
        cli.main(["report", "compliance", "--out", "x", "--athena", "--since", "2026-11-01"])
    assert usage.value.code == 64 and "--athena runs the named queries over the whole trail" in capsys.readouterr().err
