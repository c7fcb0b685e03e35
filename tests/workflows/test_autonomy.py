"""Graduated autonomy end to end, on the real workflow: decisions in the trail -> the calibrator ->
a policy.autonomy review through the gate -> a quorum approves on the review page -> the next
proposal routes by the new threshold. And the other way: drift in the spot checks demotes at once."""
from __future__ import annotations

import json
import time

import boto3

from countersign.cli import commands as cli
from tests.helpers import decide, proposal, review_id_of, review_link, unique

REPLY = "calibrated.reply"     # deployed: auto-approve from 0.95; target_error 0.3, min_samples 8
DRIFT = "drift.watch"          # deployed: auto-approve from 0.6, every auto-zone proposal spot-checked


def report_in_chromium(page_file, action_type: str) -> dict:
    """Open the report as a file in headless Chromium, allowing no request beyond the file itself."""
    from tests.e2e.pipeline import browser

    url, requests = page_file.resolve().as_uri(), []
    pw, chromium = browser()
    try:
        page = chromium.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.route("**/*", lambda route: route.continue_() if route.request.url == url else route.abort())
        page.goto(url)
        section = page.locator("h3", has_text=action_type).locator("xpath=following-sibling::p[1]")
        text = " ".join(section.text_content().split())
        points = page.locator(f'svg[aria-label="Calibration curve of {action_type}"] g.point').count()
    finally:
        chromium.close()
        pw.stop()
    return {"text": text, "points": points, "requests": len(requests)}


def calibrate(stack, action_type: str, **event) -> dict:
    """Run the calibrator function (what its schedule does) for one action type."""
    got = boto3.client("lambda").invoke(FunctionName=stack.deployment.function_name("lambdas.calibrate"),
                                        Payload=json.dumps({"action_type": action_type, **event}))
    body = json.loads(got["Payload"].read())
    assert "FunctionError" not in got, body
    [standing] = body["standings"]
    return standing


def submit(stack, kind: str, confidence: float, prefix: str) -> str:
    doc = proposal(confidence=confidence, action={"type": kind, "summary": f"{kind} at {confidence}", "parameters": {}})
    return stack.start(doc, unique(prefix))


def verdict(stack, arn: str, timeout: float = 20) -> dict:
    done = stack.wait(arn, timeout=timeout)
    assert done["status"] == "SUCCEEDED", done
    return json.loads(done["output"])


def autonomy_records(stack, target: str) -> list[dict]:
    return [r for r in stack.audit_records("autonomy/") if r["target"] == target]


def received(stack, arn: str) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [r for r in stack.execution_records(arn) if r["event"] in ("proposal_received", "refused_request")]
        if found:
            return found[0]
        time.sleep(0.02)
    raise TimeoutError("no intake record")


def test_history_earns_a_gated_loosening_that_a_quorum_approves_and_the_next_proposal_routes_by_it(stack, capsys,
                                                                                                   tmp_path):
    for i in range(9):                       # nine clean human decisions at 0.8: Wilson's bound 0.299 <= 0.3
        arn = submit(stack, REPLY, 0.8, "history")
        assert decide(stack, review_link(stack, arn), "approve").status == 200
        assert verdict(stack, arn)["outcome"] == "approved"

    standing = calibrate(stack, REPLY)
    assert standing["deployed"] == standing["effective"] == {"auto_approve_threshold": 0.95, "veto_threshold": None}
    assert standing["recommended"]["auto_approve_threshold"] == 0.8
    assert (standing["action"], standing["proposed"], standing["decisions"]) == ("keep", True, 9)
    assert autonomy_records(stack, REPLY) == []            # loosening needs a human: nothing applied yet

    gate = standing["proposal"]
    review_id = review_id_of(stack, gate)
    page = stack.http("GET", review_link(stack, gate, "bob"))
    assert "policy.autonomy" in page.body and "auto-approve from 0.95 -&gt; auto-approve from 0.8" in page.body
    assert "confidence &gt;= 0.8" in page.body and "9 decisions, 0 overrides (0.00%)" in page.body
    intake = received(stack, gate)
    calibrator = boto3.client("lambda").get_function_configuration(
        FunctionName=stack.deployment.function_name("lambdas.calibrate"))["Environment"]["Variables"]
    assert intake["facts"]["submitted_by"] == calibrator["CALIBRATOR_PRINCIPAL"]
    assert intake["expected_route"] == "human_review"       # never auto-approved, whatever it claims

    # a second run while the review is open joins it: one review per change
    assert calibrate(stack, REPLY)["proposal"] == gate

    assert decide(stack, review_link(stack, gate, "alice"), "approve").status == 200
    assert decide(stack, review_link(stack, gate, "bob"), "approve").status == 200   # quorum 2
    done = verdict(stack, gate)
    assert done["outcome"] == "approved" and "note" not in done and done["review_id"] == review_id
    [changed] = autonomy_records(stack, REPLY)
    assert (changed["event"], changed["kind"], changed["actor"]) == ("autonomy_changed", "approved", "system:conclude")
    assert changed["from"]["auto_approve_threshold"] == 0.95 and changed["to"]["auto_approve_threshold"] == 0.8
    assert changed["execution"] == gate and changed["decided_by"] in ("alice", "bob")

    arn = submit(stack, REPLY, 0.85, "after")              # between the old and the new threshold
    assert verdict(stack, arn)["outcome"] == "auto_approved"
    intake = received(stack, arn)
    assert intake["policy"]["auto_approve_threshold"] == 0.8
    assert intake["policy"]["version"] == changed["policy"]["version"] != changed["policy"]["deployed_version"]

    again = calibrate(stack, REPLY)                         # the deployed and effective side by side
    assert again["deployed"]["auto_approve_threshold"] == 0.95 and again["effective"]["auto_approve_threshold"] == 0.8
    assert (again["action"], again["proposed"]) == ("keep", False)

    # the operator's view: deployed and in effect side by side, as JSON and as a table
    name = stack.deployment.stack_name
    capsys.readouterr()
    assert cli.main(["calibrate", "--action-type", REPLY, "--dry-run", "--json", "--stack", name]) == 0
    [shown] = json.loads(capsys.readouterr().out)["standings"]
    assert (shown["deployed"]["auto_approve_threshold"], shown["effective"]["auto_approve_threshold"]) == (0.95, 0.8)
    assert cli.main(["calibrate", "--action-type", REPLY, "--dry-run", "--stack", name]) == 0
    table = capsys.readouterr().out
    assert "calibrated.reply" in table and "0.95" in table and "0.8" in table and "kept" in table
    assert cli.main(["calibrate", "--action-type", "no.such", "--stack", name]) == 1
    assert "the deployed policy has no action type 'no.such'" in capsys.readouterr().err

    # the oversight report: the curve, both thresholds and the change, as JSON and on a page in Chromium
    assert cli.main(["report", "oversight", "--out", str(tmp_path / "oversight"), "--stack", name]) == 0
    facts = json.loads((tmp_path / "oversight" / "oversight.json").read_text())
    [reply] = [t for t in facts["action_types"] if t["action_type"] == REPLY]
    assert reply["deployed"]["auto_approve_threshold"] == 0.95 and reply["effective"]["auto_approve_threshold"] == 0.8
    assert [(p["band"], p["n"], p["overrides"]) for p in reply["curve"]] == [("0.80-0.85", 9, 0)]
    assert [(h["kind"], h["from"]["auto_approve_threshold"], h["to"]["auto_approve_threshold"])
            for h in reply["history"]] == [("approved", 0.95, 0.8)]
    shown = report_in_chromium(tmp_path / "oversight" / "index.html", REPLY)
    assert "deployed 0.95, in effect 0.8" in shown["text"] and shown["points"] == 1 and shown["requests"] == 1


def test_drift_in_the_spot_checks_demotes_at_once_and_tells_the_reviewers(stack):
    for i in range(3):                       # auto-zone proposals, each spot-checked, each overridden
        arn = submit(stack, DRIFT, 0.9, "drift")
        assert received(stack, arn)["facts"]["spot_check"] is True
        assert decide(stack, review_link(stack, arn), "reject", "wrong account").status == 200
        assert verdict(stack, arn)["outcome"] == "rejected"

    standing = calibrate(stack, DRIFT)
    assert standing["action"] == "demote" and standing["then"]["auto_approve_threshold"] == 1
    assert standing["drift"]["overrides"] == 3 and standing["drift"]["demote"] is True
    [demoted] = autonomy_records(stack, DRIFT)
    assert (demoted["event"], demoted["kind"], demoted["actor"]) == ("autonomy_demoted", "demoted", "system:calibrator")
    assert demoted["evidence"]["drift"]["window"] == 3 and demoted["from"]["auto_approve_threshold"] == 0.6
    told = [e for e in stack.emails() if f"{DRIFT} demoted to human review" in e.subject]
    assert sorted(e.reviewer for e in told) == ["alice", "bob", "carol"]

    arn = submit(stack, DRIFT, 0.99, "demoted")
    intake = received(stack, arn)
    assert intake["expected_route"] == "human_review" and intake["policy"]["auto_approve_threshold"] == 1
    review_id_of(stack, arn)

    quiet = calibrate(stack, DRIFT)                        # demoted already; history restarts from the demotion
    assert (quiet["action"], quiet["decisions"]) == ("keep", 0)
    assert len(autonomy_records(stack, DRIFT)) == 1


def test_nobody_but_the_calibrator_may_propose_an_autonomy_change(stack):
    doc = {"schema_version": "1", "confidence": 0.99,
           "action": {"type": "policy.autonomy", "summary": "give me autonomy",
                      "parameters": {"action_type": REPLY, "auto_approve_threshold": 0.5, "veto_threshold": None,
                                     "basis": {"auto_approve_threshold": 0.95, "veto_threshold": None,
                                               "policy_version": "x"}}}}
    arn = stack.start(doc, unique("self-autonomy"))
    assert stack.wait(arn)["status"] == "FAILED"          # the workflow's Refused state
    refused = received(stack, arn)
    assert refused["event"] == "refused_request"
    assert "policy.autonomy is proposed only by this stack's calibrator" in json.dumps(refused["errors"])
