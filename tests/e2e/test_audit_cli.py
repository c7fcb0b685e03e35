"""`countersign audit` as a compliance officer runs it against the sandbox, and offline from an
export: exit 0 intact, 5 a problem named on one line, 1 could not verify."""
from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime, timedelta, timezone
import sys

import boto3
import pytest

from tests.e2e.pipeline import ROOT, proposal_file, run_cli
from tests.helpers import newcomer_env


def offline(*args: str) -> subprocess.CompletedProcess:
    """No endpoint, no AWS configuration at all: what an auditor with only the export has."""
    return subprocess.run([sys.executable, "-m", "countersign", *args], cwd=ROOT, env=newcomer_env(),
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def s3(sandbox):
    return boto3.client("s3", endpoint_url=sandbox["aws"], region_name="us-east-1",
                        aws_access_key_id="sandbox", aws_secret_access_key="sandbox")


def bucket_of(s3) -> str:
    return next(b["Name"] for b in s3.list_buckets()["Buckets"] if "auditbucket" in b["Name"])


def test_verify_export_and_public_key_as_an_auditor_uses_them(sandbox, s3, tmp_path):
    path, _ = proposal_file(tmp_path, confidence=0.99, action={"type": "quick.timeout", "summary": "x",
                                                              "parameters": {}})
    assert run_cli(sandbox, "submit", str(path), "--wait").returncode in (0, 3)
    digest = run_cli(sandbox, "audit", "digest", "--json")
    assert digest.returncode == 0 and json.loads(digest.stdout)["key"].startswith("digests/")

    verified = run_cli(sandbox, "audit", "verify", "--json")
    report = json.loads(verified.stdout)
    assert verified.returncode == 0 and report["intact"] is True and report["problems"] == []
    assert report["records"] >= 2 and report["digests"] >= 1

    export = tmp_path / "trail.jsonl"
    assert run_cli(sandbox, "audit", "export", "--out", str(export)).returncode == 0
    pem = run_cli(sandbox, "audit", "public-key")
    assert pem.returncode == 0 and pem.stdout.startswith("-----BEGIN PUBLIC KEY-----\n")
    (tmp_path / "digest.pem").write_text(pem.stdout)
    again = offline("audit", "verify", "--from", str(export), "--public-key", str(tmp_path / "digest.pem"), "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["records"] == report["records"]

    later = tmp_path / "later.jsonl"               # an export limited to a period: older heads are out of scope
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%d")
    assert run_cli(sandbox, "audit", "export", "--since", tomorrow, "--out", str(later)).returncode == 0
    scoped = offline("audit", "verify", "--from", str(later), "--json")
    assert scoped.returncode == 0 and json.loads(scoped.stdout)["records"] == 0, scoped.stdout

    lines = export.read_text().splitlines()        # one record edited in the export: found offline
    item = json.loads(lines[1])
    body = json.loads(item["body"])
    body["summary_edited"] = True
    lines[1] = json.dumps({**item, "body": json.dumps(body)})
    export.write_text("\n".join(lines) + "\n")
    edited = offline("audit", "verify", "--from", str(export))
    assert edited.returncode == 5
    assert f"{item['key']}: the record's content does not match its hash (expected hash {body['hash']})" \
        in edited.stdout.splitlines()


def test_a_record_changed_in_the_bucket_exits_5_naming_it(sandbox, s3, tmp_path):
    bucket = bucket_of(s3)
    path, _ = proposal_file(tmp_path, confidence=0.99, action={"type": "quick.timeout", "summary": "y",
                                                              "parameters": {}})
    assert run_cli(sandbox, "submit", str(path), "--wait").returncode in (0, 3)     # a record of its own to change
    deadline = time.monotonic() + 20
    while not (listed := s3.list_objects_v2(Bucket=bucket, Prefix="executions/").get("Contents")):
        assert time.monotonic() < deadline, "no execution records in the trail"
        time.sleep(0.2)
    key = listed[0]["Key"]
    record = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    version = s3.put_object(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256",
                            Body=json.dumps({**record, "confidence": 0.01}).encode())["VersionId"]
    try:
        changed = run_cli(sandbox, "audit", "verify")
        assert changed.returncode == 5
        assert f"{key}: the record's content does not match its hash (expected hash {record['hash']})" \
            in changed.stdout.splitlines()
        assert changed.stdout.splitlines()[-1].startswith("1 problem(s) found: ")
    finally:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version, BypassGovernanceRetention=True)
    assert run_cli(sandbox, "audit", "verify").returncode == 0


def test_what_cannot_be_verified_exits_1_with_the_reason(tmp_path):
    missing = offline("audit", "verify", "--from", str(tmp_path / "nothing.jsonl"))
    assert missing.returncode == 1 and missing.stderr.startswith("error: could not verify: cannot read the export")
    (tmp_path / "other.jsonl").write_text('{"not": "an export"}\n')
    other = offline("audit", "verify", "--from", str(tmp_path / "other.jsonl"), "--json")
    assert other.returncode == 1 and json.loads(other.stdout)["intact"] is None
    assert "not a Countersign audit export" in other.stderr
