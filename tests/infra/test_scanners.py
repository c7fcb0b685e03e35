"""checkov and cfn-lint on the synthesized template, like cdk-nag at synth: a finding that
``stacks/scanners.py`` does not acknowledge, with a reason, fails the suite. Both run offline."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import newcomer_env

CHECKOV = Path(sys.prefix) / "scanners" / "bin" / "checkov"   # its own venv (make test installs it)
CFN_LINT = Path(sys.executable).parent / "cfn-lint"


@pytest.fixture(scope="module")
def template_file(synthesized) -> Path:
    return synthesized.outdir / f"{synthesized.stack.stack_name}.template.json"


@pytest.fixture(scope="module")
def checkov(template_file):
    env = newcomer_env(BC_SKIP_MAPPING="TRUE", CHECKOV_SKIP_DOWNLOAD="TRUE")
    run = subprocess.run([str(CHECKOV), "-f", str(template_file), "--framework", "cloudformation",
                          "--skip-download", "-o", "json"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert run.stdout, run.stderr
    return run.returncode, json.loads(run.stdout)


def test_checkov_finds_nothing_unacknowledged(checkov):
    code, report = checkov
    failed = [f"{f['check_id']} {f['resource']}: {f['check_name']}" for f in report["results"]["failed_checks"]]
    assert failed == [] and code == 0, "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0 and report["summary"]["passed"] > 200


def test_every_checkov_acknowledgment_gives_a_reason(checkov, synthesized):
    _, report = checkov
    skipped = report["results"]["skipped_checks"]
    assert skipped, "the template's acknowledgments were not read"
    for check in skipped:
        assert len(check["check_result"]["suppress_comment"]) > 60, check["check_id"]
    # the acknowledgments are in the template's own metadata, resource by resource
    in_template = sum(len(r.get("Metadata", {}).get("checkov", {}).get("skip", []))
                      for r in synthesized.template["Resources"].values())
    assert in_template == len(skipped)


def test_checkov_fails_a_finding_nobody_acknowledged(template_file, tmp_path):
    """The scan really runs: the same template with one acknowledgment removed fails."""
    template = json.loads(template_file.read_text())
    key = next(r for r in template["Resources"].values()
               if r["Type"] == "AWS::KMS::Key" and r["Properties"].get("KeySpec") == "HMAC_256")
    del key["Metadata"]["checkov"]
    (tmp_path / "t.template.json").write_text(json.dumps(template))
    run = subprocess.run([str(CHECKOV), "-f", str(tmp_path / "t.template.json"), "--framework", "cloudformation",
                          "--quiet", "--compact", "--skip-download", "-o", "json"], capture_output=True, text=True,
                         env=newcomer_env(BC_SKIP_MAPPING="TRUE"), timeout=300)
    assert run.returncode == 1
    assert [f["check_id"] for f in json.loads(run.stdout)["results"]["failed_checks"]] == ["CKV_AWS_7"]


def test_cfn_lint_is_clean(template_file):
    run = subprocess.run([str(CFN_LINT), str(template_file)], capture_output=True, text=True, env=newcomer_env(),
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    template = json.loads(template_file.read_text())
    for logical, res in template["Resources"].items():
        lint = res.get("Metadata", {}).get("cfn-lint")
        if lint:
            assert set(lint["reasons"]) == set(lint["config"]["ignore_checks"]), logical
            assert all(len(reason) > 40 for reason in lint["reasons"].values()), logical
