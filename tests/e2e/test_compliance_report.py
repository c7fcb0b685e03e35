"""`countersign report compliance` as an auditor runs it against the sandbox: the decisions this
test puts into the trail (approve, modify, reject over the emailed links; one left to expire)
are what the pack shows, in evidence.json and on the page opened in headless Chromium, which
makes no request beyond the file itself."""
from __future__ import annotations

import html
import json
import math
import re
import time
import urllib.request
import uuid
from datetime import datetime, timezone

import boto3

from tests.e2e.pipeline import browser, email_for, post_decision, run_cli
from tests.helpers import REASONS

CHECK, EXPIRE = "report.check", "report.expire"

EXTERNAL = r'\b(?:href|src|action|data|poster)\s*=\s*"(?!#)|url\(|@import|<(?:link|img|script|iframe|object|embed|base|form)\b'


def submit(sandbox, tmp_path, action_type: str) -> tuple[str, str]:
    marker = uuid.uuid4().hex[:10]
    path = tmp_path / f"{marker}.json"
    path.write_text(json.dumps({"schema_version": "1", "confidence": 0.5, "action": {
        "type": action_type, "summary": f"Evidence case {marker} <b>not bold</b>", "parameters": {"n": 1}}}))
    started = run_cli(sandbox, "submit", str(path), "--json")
    assert started.returncode == 5, started.stderr
    return marker, json.loads(started.stdout)["executionArn"]


def decide(link: str, decision: str, rationale: str, parameters: dict | None = None) -> None:
    page = urllib.request.urlopen(link).read().decode()
    form = {"t": html.unescape(re.search(r'name="t" value="([^"]+)"', page).group(1)), "decision": decision,
            "rationale": rationale, "reason": REASONS.get(decision, ""),
            **({"parameters": json.dumps(parameters)} if parameters else {})}
    assert post_decision(link, form).status == 200


def finished(sandbox, arns: list[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    for arn in arns:
        while sandbox["sfn"].describe_execution(executionArn=arn)["status"] == "RUNNING":
            assert time.monotonic() < deadline, f"{arn} is still running"
            time.sleep(0.2)


def trail_records(sandbox, arns: list[str]) -> list[dict]:
    """This test's records, read straight from the bucket (for the times to decision)."""
    s3 = boto3.client("s3", endpoint_url=sandbox["aws"], region_name="us-east-1", aws_access_key_id="sandbox",
                      aws_secret_access_key="sandbox")
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "auditbucket" in b["Name"])
    names = {arn.rsplit(":", 1)[1] for arn in arns}
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="executions/")
            for o in page.get("Contents", []) if o["Key"].split("/")[-2] in names]
    return [json.loads(s3.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in keys]


def nearest_rank(values: list[float], q: float) -> float:
    return sorted(values)[max(0, math.ceil(q * len(values)) - 1)]


def test_the_pack_shows_what_was_put_into_the_trail_and_makes_no_request(sandbox, tmp_path):
    expiring, expiring_arn = submit(sandbox, tmp_path, EXPIRE)
    cases = [submit(sandbox, tmp_path, CHECK) for _ in range(4)]
    choices = [("approve", "fine", None), ("modify", "halve it", {"n": 2}), ("reject", "<i>no</i>", None),
               ("approve", "fine too", None)]
    for (marker, _), (decision, rationale, parameters) in zip(cases, choices):
        decide(email_for(sandbox, marker, "bob")["links"][0], decision, rationale, parameters)
    arns = [arn for _, arn in cases] + [expiring_arn]
    finished(sandbox, arns)
    reason = f"report drill {uuid.uuid4().hex[:8]}"
    assert run_cli(sandbox, "kill-switch", "on", "--mode", "human", "--reason", reason).returncode == 0
    assert run_cli(sandbox, "kill-switch", "off", "--reason", reason).returncode == 0
    assert run_cli(sandbox, "audit", "digest").returncode == 0

    out = tmp_path / "pack"
    made = run_cli(sandbox, "report", "compliance", "--out", str(out), "--since", datetime.now(timezone.utc).strftime("%Y-%m-01"))
    assert made.returncode == 0, made.stderr
    facts = json.loads((out / "evidence.json").read_text())
    fig = facts["figures"]
    assert facts["integrity"]["intact"] is True and facts["integrity"]["digests"] >= 1
    mine = [d for d in fig["decisions"]["by_action_type"] if d["action_type"] in (CHECK, EXPIRE)]
    assert sorted((d["action_type"], d["outcome"], d["route"], d["count"]) for d in mine) == [
        (CHECK, "approved", "human_review", 2), (CHECK, "modified", "human_review", 1),
        (CHECK, "rejected", "human_review", 1), (EXPIRE, "expired", "human_review", 1)]
    assert [o for o in fig["overrides"] if o["action_type"] == CHECK] == [
        {"action_type": CHECK, "decisions": 4, "modified": 1, "rejected": 1, "rate": 0.5}]
    assert {"action_type": EXPIRE, "expired": 1, "escalations": 1} in fig["expiries"]["by_action_type"]
    assert [(k["from"], k["to"]) for k in fig["kill_switch_flips"] if k["reason"] == reason] == \
        [("off", "human"), ("human", "off")]
    records = trail_records(sandbox, arns)
    asked = {r["review_id"]: datetime.fromisoformat(r["recorded_at"].replace("Z", "+00:00"))
             for r in records if r["event"] == "review_requested"}
    waited = [max(0.0, (datetime.fromisoformat(r["decided_at"].replace("Z", "+00:00")) - asked[r["review_id"]])
                  .total_seconds()) for r in records if r["event"] == "decision_recorded"]
    times = next(t for t in fig["time_to_decision"]["by_action_type"] if t["action_type"] == CHECK)
    assert (times["reviews"], times["p50_seconds"], times["p90_seconds"]) == \
        (4, nearest_rank(waited, 0.5), nearest_rank(waited, 0.9))
    rows = {r["action_type"]: r for r in facts["escalation"]}
    assert rows[CHECK]["tiers"] == [{"tier": 1, "reviewers": ["alice", "bob"], "timeout_seconds": 600}]
    assert rows[EXPIRE]["tiers"][0]["timeout_seconds"] == 3 and facts["kill_switch"]["state"] == "off"
    assert [(p["id"], p["authority"]["risk"], p["trained_on"]) for p in facts["reviewers"]] == \
        [("alice", "critical", "2026-09-14"), ("bob", "high", "2026-10-02")]        # cdk.json's registry
    assert "email" not in json.dumps(facts["reviewers"]) and "Art. 26(2)" in json.dumps(facts["checklist"])
    assert facts["logging"]["retention"]["meets_minimum"] is False          # the sandbox keeps records 1 day

    page_file = (out / "index.html").resolve()
    text = page_file.read_text()
    assert not re.search(EXTERNAL, text)
    assert "&lt;b&gt;not bold&lt;/b&gt;" in text and "<b>not bold" not in text and "&lt;i&gt;no&lt;/i&gt;" in text
    url, requests = page_file.as_uri(), []
    pw, chromium = browser()
    try:
        page = chromium.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.route("**/*", lambda route: route.continue_() if route.request.url == url else route.abort())
        page.goto(url)
        cell = lambda selector: page.locator(selector).text_content().strip()  # noqa: E731
        assert cell(f'#overrides-table tr[data-action-type="{CHECK}"] .decisions') == "4"
        assert cell(f'#overrides-table tr[data-action-type="{CHECK}"] .modified') == "1"
        assert cell(f'#overrides-table tr[data-action-type="{CHECK}"] .rejected') == "1"
        assert cell(f'#overrides-table tr[data-action-type="{CHECK}"] .rate') == "50.0 %"
        assert cell(f'#decisions-by-type tr[data-action-type="{CHECK}"][data-outcome="approved"] .count') == "2"
        assert cell(f'#expiries-table tr[data-action-type="{EXPIRE}"] .expired') == "1"
        assert cell(f'#time-by-type tr[data-action-type="{CHECK}"] .p50') == f"{times['p50_seconds']:.1f} s"
        assert cell("#integrity-result").startswith("audit verify: intact.")
        assert page.locator("#check-art-26-6").get_attribute("data-status") == "falls short"
        assert page.locator('#check-art-14-4-e a[href="#kill-switch"]').count() == 1
        assert page.locator("#figures svg").count() >= 3
    finally:
        chromium.close()
        pw.stop()
    assert requests == [url]


def offline(*args: str):
    import subprocess
    import sys

    from tests.e2e.pipeline import ROOT
    from tests.helpers import newcomer_env

    return subprocess.run([sys.executable, "-m", "countersign", "report", "compliance", *args], cwd=ROOT,
                          env=newcomer_env(), capture_output=True, text=True, timeout=60)


def test_from_an_export_it_says_what_is_missing_and_exits_5_on_an_integrity_problem_1_when_unreadable(tmp_path):
    from countersign.evidence import trail
    from tests.fixtures.synthetic_trail import build

    objects, der = build(20, per_stream=5, hours=1)
    lines = list(trail.export_lines(objects, der, {"mode": "GOVERNANCE", "days": 1}, "bucket"))
    export = tmp_path / "trail.jsonl"
    export.write_text("\n".join(lines) + "\n")
    clean = offline("--from", str(export), "--out", str(tmp_path / "clean"))
    assert clean.returncode == 0, clean.stderr
    facts = json.loads((tmp_path / "clean" / "evidence.json").read_text())
    assert facts["integrity"]["intact"] and facts["integrity"]["records"] == 20 and facts["escalation"] == []
    assert any(m.startswith("the deployed policy") for m in facts["missing"])
    assert facts["workflows"][0]["source"].startswith("statemachines/approval_gate.asl.json")

    item = json.loads(lines[1])
    lines[1] = json.dumps({**item, "body": item["body"].replace('"confidence":0.5', '"confidence":0.9')})
    export.write_text("\n".join(lines) + "\n")
    broken = offline("--from", str(export), "--out", str(tmp_path / "broken"))
    assert broken.returncode == 5 and "1 integrity problem(s) found" in broken.stderr
    page = (tmp_path / "broken" / "index.html").read_text()
    assert "audit verify found 1 integrity problem(s).</strong>" in page and item["key"] in page
    assert "Not in this pack:" in page

    missing = offline("--from", str(tmp_path / "nothing.jsonl"), "--out", str(tmp_path / "none"))
    assert missing.returncode == 1 and not (tmp_path / "none").exists()
    assert missing.stderr.startswith("error: could not write the evidence pack: cannot read the export")
    assert len(missing.stderr.strip().splitlines()) == 1
