"""The CI examples: linted offline, and their scripts run as a pipeline runs them, against the
shared sandbox (``countersign local``; every command as a newcomer: no ``AWS_*`` variables, an empty
HOME). Each verdict must deploy exactly what was approved, or nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.pipeline import email_for, post_decision
from tests.helpers import REASONS, form_token, newcomer_env

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "ci"
BIN = Path(sys.executable).parent            # the environment's countersign, zizmor, check-jsonschema
RECORDER = "import os, sys; open(sys.argv[1], 'a').write(os.environ['DEPLOY_VERSION'] + '\\n')"


def tool(name: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / name), *args], cwd=cwd, env=newcomer_env(), capture_output=True, text=True,
                          timeout=120)


WORKFLOWS = sorted((EXAMPLES / "github").glob("*.yml"))


def test_the_examples_are_the_documented_layout():
    assert [p.name for p in WORKFLOWS] == ["deploy.yml", "inline.yml", "request.yml"]
    assert (EXAMPLES / "gitlab" / ".gitlab-ci.yml").is_file()


def test_github_workflows_pass_zizmor_offline_and_pedantic(tmp_path):
    done = tool("zizmor", "--offline", "--persona", "pedantic", "--format", "json", *map(str, WORKFLOWS))
    assert done.returncode == 0 and json.loads(done.stdout) == [], done.stdout + done.stderr
    injected = tmp_path / "injected.yml"       # the same check fails on template injection into a script
    injected.write_text(WORKFLOWS[0].read_text().replace(
        "run: PATH=", "run: echo ${{ github.event.client_payload.execution_name }}; PATH="))
    found = tool("zizmor", "--offline", "--format", "json", str(injected))
    assert found.returncode != 0 and "template-injection" in found.stdout


def test_github_workflows_pin_every_action_by_commit_and_match_the_schema(tmp_path):
    for path in WORKFLOWS:
        text = path.read_text()
        uses = [line.split("uses:", 1)[1].strip() for line in text.splitlines() if "uses:" in line]
        assert uses and all(len(u.split("@")[1].split()[0]) == 40 for u in uses), path
        assert "permissions: {}" in text and "git+https" not in text
        done = tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(path))
        assert done.returncode == 0, done.stdout
    broken = tmp_path / "broken.yml"            # the same check refuses a misspelt keyword
    broken.write_text(WORKFLOWS[0].read_text().replace("runs-on:", "run-on:", 1))
    assert tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(broken)).returncode == 1


def test_gitlab_ci_matches_gitlabs_schema_offline(tmp_path):
    path = EXAMPLES / "gitlab" / ".gitlab-ci.yml"
    done = tool("check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", str(path))
    assert done.returncode == 0, done.stdout
    broken = tmp_path / ".gitlab-ci.yml"        # the same check refuses a misspelt keyword
    broken.write_text(path.read_text().replace("resource_group:", "resource_groups:", 1))
    assert tool("check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", str(broken)).returncode == 1


class Pipeline:
    """A repository checkout and the CI around it: commits, the two scripts, a recording DEPLOY_COMMAND."""

    def __init__(self, sandbox, root: Path, **env: str) -> None:
        self.sandbox, self.repo, self.log = sandbox, root / "repo", root / "deployed.txt"
        self.env = newcomer_env(PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", COUNTERSIGN_ENDPOINT=sandbox["aws"],
                                GITHUB_REPOSITORY="acme/shop", DEPLOY_COMMAND=f"{sys.executable} -c \"{RECORDER}\" "
                                f"{self.log}", GIT_AUTHOR_NAME="Dev", GIT_AUTHOR_EMAIL="dev@example.com",
                                GIT_COMMITTER_NAME="Dev", GIT_COMMITTER_EMAIL="dev@example.com", **env)
        self.repo.mkdir()
        self.git("init", "-q", "-b", "main")
        self.commit("README.md", "shop\n")
        pinned = subprocess.run(["countersign", "receipt", "public-key", "--out", ".countersign/receipts.pem"],
                                cwd=self.repo, env=self.env, capture_output=True, text=True, timeout=60)
        assert pinned.returncode == 0, pinned.stderr       # the receipt key, pinned in the repository once

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.repo, env=self.env, check=True, capture_output=True,
                              text=True).stdout.strip()

    def commit(self, path: str, text: str) -> str:
        (self.repo / path).parent.mkdir(parents=True, exist_ok=True)
        (self.repo / path).write_text(text)
        self.git("add", path)
        self.git("commit", "-q", "-m", f"change {path}")
        return self.git("rev-parse", "HEAD")

    def run(self, script: str, *args: str, **env: str) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=self.repo,
                                  env={**self.env, **env}, capture_output=True, text=True, timeout=90)
        finally:
            self.sandbox["last_run"] = time.monotonic()

    def kill_switch(self, state: str) -> None:
        """Flip it; Prepare holds what it last read (at the last submission) for 5 s."""
        done = subprocess.run(["countersign", "kill-switch", state], env=self.env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        self.sandbox["fresh_at"] = self.sandbox.get("last_run", 0) + 5.5

    def settle(self) -> None:
        time.sleep(max(0.0, self.sandbox.get("fresh_at", 0) - time.monotonic()))

    def request(self) -> str:
        done = self.run("request.py")
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout.split("execution ", 1)[1].split()[0]

    def decide(self, sha: str, decision: str, rationale: str = "", **parameters: str) -> None:
        link = email_for(self.sandbox, sha[:12])["links"][0]
        form = {"t": form_token(urllib.request.urlopen(link).read().decode()), "decision": decision,
                "rationale": rationale, "reason": REASONS.get(decision, "")}
        if parameters:
            form["parameters"] = json.dumps(parameters)
        assert post_decision(link, form).status == 200

    def ended(self, arn: str) -> str:
        deadline = time.monotonic() + 30
        while (status := self.sandbox["sfn"].describe_execution(executionArn=arn)["status"]) == "RUNNING":
            assert time.monotonic() < deadline, f"{arn} still running"
            time.sleep(0.1)
        return status

    def deployed(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def pipeline(sandbox, tmp_path) -> Pipeline:
    ready = Pipeline(sandbox, tmp_path)
    ready.settle()                  # a kill switch flipped by an earlier test is read afresh
    return ready


def test_an_approval_deploys_the_commit_and_a_rerun_joins_the_same_review(pipeline):
    sha = pipeline.commit("app.py", "print('v2')\n")
    arn = pipeline.request()
    again = pipeline.run("request.py")                    # a re-run of the job: same key, same content
    assert again.returncode == 0 and f"already requested (joined): key deploy-acme-shop-{sha}" in again.stdout
    assert arn in again.stdout and arn.endswith(f":deploy-acme-shop-{sha}")
    early = pipeline.run("deploy.py")                     # woken before anyone decided: nothing to deploy
    assert early.returncode == 0 and "nothing deployed: not decided yet (exit 5)" in early.stdout
    pipeline.decide(sha, "approve", "Looks right.")
    assert pipeline.ended(arn) == "SUCCEEDED"
    done = pipeline.run("deploy.py", COUNTERSIGN_EXECUTION=arn.rsplit(":", 1)[1])
    assert done.returncode == 0, done.stdout + done.stderr
    assert pipeline.deployed() == [sha] and f"approved: deploying shop {sha}" in done.stdout
    assert f"valid: approved by alice, execution {arn}, until " in done.stdout     # the receipt checked first


def test_a_modified_approval_deploys_the_reviewers_version_not_the_proposal(pipeline):
    sha = pipeline.commit("app.py", "print('v3')\n")
    arn = pipeline.request()
    pipeline.decide(sha, "modify", "Ship the hotfix build instead.", service="shop", version="fedcba9")
    assert pipeline.ended(arn) == "SUCCEEDED"
    done = pipeline.run("deploy.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert pipeline.deployed() == ["fedcba9"]
    assert json.loads((pipeline.repo / "final-action.json").read_text())["parameters"]["version"] == "fedcba9"


def test_an_approval_whose_receipt_does_not_check_out_deploys_nothing(pipeline):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    sha = pipeline.commit("app.py", "print('v8')\n")
    arn = pipeline.request()
    pipeline.decide(sha, "approve", "Looks right.")
    assert pipeline.ended(arn) == "SUCCEEDED"
    pinned = pipeline.repo / ".countersign" / "receipts.pem"
    real = pinned.read_text()
    pinned.unlink()
    done = pipeline.run("deploy.py")
    assert done.returncode == 1 and "nothing deployed: no pinned receipt key at .countersign/receipts.pem (export " \
        "it once: countersign receipt public-key --out .countersign/receipts.pem)" in done.stdout
    other = ec.generate_private_key(ec.SECP256R1()).public_key()      # a key that is not the stack's
    pinned.write_bytes(other.public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo))
    done = pipeline.run("deploy.py")
    assert done.returncode == 4 and "nothing deployed: the receipt does not check out (exit 5): receipt not " \
        "valid:" in done.stdout
    assert pipeline.deployed() == []
    pinned.write_text(real)
    assert pipeline.run("deploy.py").returncode == 0 and pipeline.deployed() == [sha]


def test_a_rejection_deploys_nothing(pipeline):
    sha = pipeline.commit("infra/db.tf", "resource {}\n")     # a risky path: risk high, lower confidence
    proposal_arn = pipeline.request()
    proposal = json.loads((pipeline.repo / "proposal.json").read_text())
    assert (proposal["risk"], proposal["confidence"]) == ("high", 0.75)
    pipeline.decide(sha, "reject", "Not during the freeze.")
    assert pipeline.ended(proposal_arn) == "SUCCEEDED"
    done = pipeline.run("deploy.py")
    assert done.returncode == 2 and "nothing deployed: rejected" in done.stdout and pipeline.deployed() == []


def test_an_expired_review_deploys_nothing_inline(sandbox, tmp_path):
    pipeline = Pipeline(sandbox, tmp_path, COUNTERSIGN_ACTION_TYPE="deploy.quick")   # 3-second review
    pipeline.settle()
    pipeline.commit("app.py", "print('v4')\n")
    done = pipeline.run("deploy.py", "--wait", "60s")     # the inline variant: submit, wait, deploy
    assert done.returncode == 3 and "nothing deployed: expired" in done.stdout and pipeline.deployed() == []


def test_a_forged_or_stale_verdict_event_deploys_nothing(pipeline):
    """The event names an approved execution, but the branch has moved on: the head's own review decides."""
    old = pipeline.commit("app.py", "print('v5')\n")
    old_arn = pipeline.request()
    new = pipeline.commit("app.py", "print('v6')\n")
    new_arn = pipeline.request()
    pipeline.decide(old, "approve", "Fine.")                  # the older commit is approved last
    assert pipeline.ended(old_arn) == "SUCCEEDED"
    done = pipeline.run("deploy.py", COUNTERSIGN_EXECUTION=old_arn.rsplit(":", 1)[1])
    assert done.returncode == 0 and pipeline.deployed() == []
    assert f"checking this commit's own review 'deploy-acme-shop-{new}'" in done.stdout
    pipeline.decide(new, "approve", "Fine too.")             # the same job deploys once the head is approved
    assert pipeline.ended(new_arn) == "SUCCEEDED"
    assert pipeline.run("deploy.py").returncode == 0 and pipeline.deployed() == [new]


def test_a_halted_gate_deploys_nothing(pipeline):
    pipeline.kill_switch("on")
    try:
        pipeline.settle()
        pipeline.commit("app.py", "print('v7')\n")
        assert pipeline.ended(pipeline.request()) == "FAILED"
        done = pipeline.run("deploy.py")
        assert done.returncode == 6 and "nothing deployed: halted" in done.stdout and pipeline.deployed() == []
    finally:
        pipeline.kill_switch("off")
        pipeline.settle()               # the sandbox is shared: the next test must not meet a cached halt
