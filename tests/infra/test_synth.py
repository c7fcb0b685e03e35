"""`python app.py` as a platform engineer runs it: nag-clean synth, clear refusals for bad config,
and cdk-nag really stopping a synth that gains an unacknowledged finding."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import newcomer_env

ROOT = Path(__file__).resolve().parents[2]


def run_app(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = newcomer_env(CDK_OUTDIR=str(tmp_path), JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1")   # as make does
    return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_python_app_py_synthesizes_nag_clean_without_an_account(tmp_path):
    done = run_app(tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert {p["pluginName"]: p["conclusion"] for p in report["pluginReports"]} == {
        "AwsSolutions": "success", "Serverless": "success"}
    for plugin in report["pluginReports"]:
        assert plugin["violations"] == []
        assert all(s["reason"].strip() for s in plugin["suppressedViolations"])
    assert (tmp_path / "Countersign-dev.template.json").exists()


def test_digest_mode_synthesizes_nag_clean_with_a_digest_schedule(tmp_path, capsys):
    """``python app.py``'s ``main``, in this process (its jsii runtime is already up)."""
    import app as cdk_app

    assert cdk_app.main(["-c", "notify=digest", "-c", "digest_minutes=15"], outdir=str(tmp_path)) == 0, \
        capsys.readouterr().err[-2000:]
    resources = json.loads((tmp_path / "Countersign-dev.template.json").read_text())["Resources"]
    [(logical, fn)] = [(k, r["Properties"]) for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function"
                       and r["Properties"]["Handler"] == "lambdas.mail_digest.handler"]
    request = next(r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Function"
                   and r["Properties"]["Handler"] == "lambdas.request_review.handler")
    assert fn["Environment"]["Variables"]["DIGEST_MINUTES"] == request["Environment"]["Variables"]["DIGEST_MINUTES"] == "15"
    [rule] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"
              and logical in json.dumps(r["Properties"].get("Targets", []))]
    assert rule["ScheduleExpression"] == "rate(15 minutes)"


BAD_CONFIGURATION = [
    ('policy={"default": {"auto_approve_threshold": 1.5, "review_timeout_seconds": 60}, '
     '"action_types": {"a.b": {}}}', "auto_approve_threshold"),
    ('policy={"default": {"auto_approve_threshold": 0.9, "review_timeout_seconds": 60}, '
     '"action_types": {"a.b": {"reviewers": ["mallory"]}}}', "reviewers not configured: mallory"),
    ("stage=prod", "stage prod needs audit_lock_mode COMPLIANCE"),
    ("audit_lock_mode=SOMETIMES", "COMPLIANCE or GOVERNANCE"),
    ('reviewers=[{"id": "Alice!", "email": "a@example.com"}]', "must match"),
    ("max_human_gates=4", "1 to 3 human gates per path"),
    ("notify=hourly", "context notify: each (an email per review) or digest (batched)"),
]


def _flags(override: str) -> list[str]:
    return ["-c", override] + (["-c", "audit_lock_mode=GOVERNANCE"] if override == "stage=prod" else [])


def test_bad_configuration_fails_python_app_py_with_exit_2_and_a_precise_message(tmp_path):
    override, message = BAD_CONFIGURATION[0]
    done = run_app(tmp_path, *_flags(override))
    assert done.returncode == 2
    assert "configuration error" in done.stderr and message in done.stderr
    assert not (tmp_path / "Countersign-dev.template.json").exists()


@pytest.mark.parametrize("override, message", BAD_CONFIGURATION)
def test_each_bad_configuration_is_refused_with_a_precise_message(capsys, override, message):
    """The same ``main`` as above, in this process: a refusal comes before any synth."""
    import app as cdk_app

    assert cdk_app.main(_flags(override)) == 2
    err = capsys.readouterr().err
    assert "configuration error" in err and message in err


def test_an_unacknowledged_nag_finding_fails_synth(tmp_path):
    import aws_cdk as cdk
    from aws_cdk import aws_sqs as sqs

    from countersign.sandbox.synth import context
    import app as cdk_app

    app = cdk.App(context=context({"stage": "nagcheck"}), outdir=str(tmp_path))
    stack = cdk_app.build(app)
    sqs.Queue(stack, "Unencrypted", encryption=sqs.QueueEncryption.UNENCRYPTED)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = (tmp_path / "validation-report.json").read_text()
    assert "AwsSolutions-SQS2" in report and "Countersign-nagcheck/Unencrypted" in report


def test_a_workflow_over_the_checkpoint_budget_fails_synth_naming_the_path(tmp_path):
    import aws_cdk as cdk
    from aws_cdk import aws_lambda as lambda_

    from countersign.workflow.asl import CheckpointBudgetExceeded
    from stacks.workflow import Workflow

    gate = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "${AskFunctionArn}", "Payload": {"t.$": "$$.Task.Token"}}}
    states = {f"Gate{i}": {**gate, "Next": f"Gate{i + 1}"} for i in range(1, 4)}
    states["Gate4"] = {**gate, "End": True}
    asl = tmp_path / "four_gates.asl.json"
    asl.write_text(json.dumps({"StartAt": "Gate1", "States": states}))
    stack = cdk.Stack(cdk.App(), "Budget")
    ask = lambda_.Function(stack, "Ask", runtime=lambda_.Runtime.PYTHON_3_14, handler="x.handler",
                           code=lambda_.Code.from_inline("def handler(e, c): pass"))
    with pytest.raises(CheckpointBudgetExceeded) as refused:
        Workflow(stack, "Over", asl=asl, name="over", functions={"Ask": ask}, retain_logs=False, max_human_gates=3)
    assert "four_gates.asl.json" in str(refused.value)
    assert "4 gates (Gate1, Gate2, Gate3, Gate4): Gate1 → Gate2 → Gate3 → Gate4" in str(refused.value)


def test_a_second_synth_gives_the_same_template_and_asset_hashes(synthesized, tmp_path):
    """The Lambda code is built in a new folder for every synth: its asset hash must come from the
    content alone, or every `cdk deploy` would upload and update every function."""
    from countersign.sandbox.synth import synthesize
    from tests.conftest import TEST_CONTEXT

    again = synthesize(tmp_path / "again", TEST_CONTEXT)
    assert again.template == synthesized.template
    assets = lambda out: sorted(p.name for p in out.iterdir() if p.name.startswith("asset."))  # noqa: E731
    assert assets(again.outdir) == assets(synthesized.outdir) and len(assets(again.outdir)) == 2
