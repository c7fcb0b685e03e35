"""The sandbox as a person and a pipeline use it: `countersign local` running, `countersign submit
--wait` blocking, a reviewer in a real headless Chromium following the emailed link."""
from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
import urllib.request
import uuid

import boto3

from tests.e2e.pipeline import (ROOT, approve_in_browser, browser, decide_by_http, email_for, free_port, post_decision,
                                proposal_file, run_cli, submit)
from tests.helpers import REASONS, newcomer_env


def test_a_reviewer_approves_in_the_browser_and_the_pipeline_gets_exit_0(sandbox, tmp_path):
    path, marker = proposal_file(tmp_path)
    pipeline = submit(sandbox, str(path), "--wait", "--json")
    email_for(sandbox, marker)
    pw, chromium = browser()
    try:
        page = chromium.new_page()
        page.goto(sandbox["web"] + "/outbox")
        email = page.locator(f"article.email[data-reviewer=alice]:has-text('{marker}')")
        email.locator("a.review-link").click()
        page.wait_for_selector("form")
        assert "refund.issue" in page.content() and "Order 5531 was charged twice" in page.content()
        assert "you are <strong>alice</strong>" in page.content()
        page.check("input[value=approve]")
        page.fill("#rationale", "Two captures 14 s apart; refund the duplicate.")
        posts = []
        page.on("request", lambda request: posts.append(request) if request.method == "POST" else None)
        page.click("button[type=submit]")
        page.wait_for_selector("text=Decision recorded")
        sent = [(p.all_headers().get("origin"), p.all_headers().get("sec-fetch-site")) for p in posts]
        assert sent == [("null", "same-origin")]      # what the desk's cross-site check must accept
    finally:
        chromium.close()
        pw.stop()
    out, err = pipeline.communicate(timeout=30)
    assert pipeline.returncode == 0, err
    verdict = json.loads(out)
    assert verdict["outcome"] == "approved" and verdict["reviewers"][0]["id"] == "alice"
    assert verdict["final_action"]["summary"] == f"Refund case {marker}"
    assert verdict["submitted_by"] == "arn:aws:sts::123456789012:user/moto"   # stamped by the submit path


def test_a_rejection_exits_2(sandbox, tmp_path):
    path, marker = proposal_file(tmp_path)
    pipeline = submit(sandbox, str(path), "--wait")
    link = email_for(sandbox, marker, "bob")["links"][0]
    assert decide_by_http(sandbox, link, "reject", "Already refunded by phone.") == 200
    out, err = pipeline.communicate(timeout=30)
    assert pipeline.returncode == 2 and "rejected" in out
    arn = err.split("submitted ", 1)[1].split()[0]
    status = run_cli(sandbox, "status", arn, "--json")
    assert status.returncode == 2 and json.loads(status.stdout)["reviewers"][0]["rationale"] == "Already refunded by phone."


def test_status_of_a_pending_review_names_who_was_notified(sandbox, tmp_path):
    path, marker = proposal_file(tmp_path)
    started = run_cli(sandbox, "submit", str(path), "--json")
    arn = json.loads(started.stdout)["executionArn"]
    email_for(sandbox, marker)
    status = run_cli(sandbox, "status", arn.rsplit(":", 1)[1])
    assert status.returncode == 5                                   # pending: nothing to act on yet
    assert "waiting for a human decision: notified alice, bob; decide by" in status.stdout
    missing = run_cli(sandbox, "status", "no-such-execution")
    assert missing.returncode == 1 and "no execution 'no-such-execution'" in missing.stderr


def test_no_decision_before_the_deadline_exits_3(sandbox, tmp_path):
    path, _ = proposal_file(tmp_path, action={"type": "quick.timeout", "summary": "expires", "parameters": {}})
    out, err = submit(sandbox, str(path), "--wait", "--json").communicate(timeout=60)
    assert json.loads(out)["outcome"] == "expired"


def test_the_wait_timeout_exits_3_and_leaves_the_review_open(sandbox, tmp_path):
    path, marker = proposal_file(tmp_path)
    pipeline = submit(sandbox, str(path), "--wait", "--timeout", "1")
    out, err = pipeline.communicate(timeout=30)
    assert pipeline.returncode == 5 and "still waiting after 1s" in err     # pending, not expired
    assert "waiting for a human decision: notified alice, bob; decide by" in err   # progress while waiting
    assert email_for(sandbox, marker)["links"]


def test_an_invalid_proposal_exits_4_and_starts_nothing(sandbox, tmp_path):
    sfn = boto3.client("stepfunctions", endpoint_url=sandbox["aws"], region_name="us-east-1",
                       aws_access_key_id="sandbox", aws_secret_access_key="sandbox")
    machine = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    before = len(sfn.list_executions(stateMachineArn=machine)["executions"])
    for changes, path_in_error in [({"confidence": 1.5}, "$.confidence"),
                                   ({"action": {"type": "wire.transfer", "summary": "x", "parameters": {}}},
                                    "$.action.type")]:
        path, _ = proposal_file(tmp_path, **changes)
        pipeline = submit(sandbox, str(path), "--wait")
        out, err = pipeline.communicate(timeout=30)
        assert pipeline.returncode == 4 and path_in_error in err and "nothing was started" in err
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == before


def test_the_same_idempotency_key_starts_one_execution(sandbox, tmp_path):
    path, _ = proposal_file(tmp_path)
    key = f"billing-512-{uuid.uuid4().hex[:6]}"
    first = submit(sandbox, str(path), "--idempotency-key", key, "--json").communicate(timeout=30)[0]
    second = submit(sandbox, str(path), "--idempotency-key", key, "--json").communicate(timeout=30)[0]
    a, b = json.loads(first), json.loads(second)
    assert a["executionArn"] == b["executionArn"] and a["started"] is True and b["started"] is False
    assert a["executionArn"].endswith(":" + key)
    sfn = boto3.client("stepfunctions", endpoint_url=sandbox["aws"], region_name="us-east-1",
                       aws_access_key_id="sandbox", aws_secret_access_key="sandbox")
    machine = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    names = [e["name"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]]
    assert names.count(key) == 1


def test_a_key_reused_for_a_different_proposal_is_refused_with_exit_4(sandbox, tmp_path):
    key = f"billing-513-{uuid.uuid4().hex[:6]}"
    first, _ = proposal_file(tmp_path)
    other, _ = proposal_file(tmp_path, confidence=0.99, risk="critical")       # other content, same key
    started = submit(sandbox, str(first), "--idempotency-key", key, "--json").communicate(timeout=30)[0]
    arn = json.loads(started)["executionArn"]
    refused = submit(sandbox, str(other), "--idempotency-key", key, "--json")
    out, _ = refused.communicate(timeout=30)
    assert refused.returncode == 4
    assert json.loads(out) == {"outcome": "invalid", "executionArn": None, "status": "INVALID", "errors": [{
        "path": "$.idempotency_key", "message": (f"idempotency key '{key}' was already used for a different "
                                                 f"proposal ({arn}); a key names one proposal: use a new key for this one")}]}
    human = submit(sandbox, str(other), "--idempotency-key", key)
    _, err = human.communicate(timeout=30)
    assert human.returncode == 4 and f"idempotency key '{key}' was already used for a different proposal" in err
    again = submit(sandbox, str(first), "--idempotency-key", key, "--json").communicate(timeout=30)[0]
    assert json.loads(again) == {"outcome": "pending", "executionArn": arn, "key": key, "started": False}   # joins
    checked = run_cli(sandbox, "status", key, "--proposal", str(other), "--json")   # the deploy side's re-check
    assert checked.returncode == 4 and json.loads(checked.stdout)["errors"] == [{
        "path": "$", "message": f"{arn} was started for a different proposal; its verdict does not apply to this one"}]
    same = run_cli(sandbox, "status", key, "--proposal", str(first), "--json")
    assert same.returncode == 5 and json.loads(same.stdout)["executionArn"] == arn


def test_the_printed_command_works_word_for_word_with_no_aws_configuration(sandbox):
    """What a newcomer pastes from the banner, in a shell with no AWS_* variables and an empty HOME,
    then approves in the browser: exit 0."""
    printed = sandbox["banner"].split("Try it:\n", 1)[1].splitlines()[0].strip()
    assert printed.endswith(f"submit examples/refund.json --wait --endpoint {sandbox['aws']}")
    pipeline = subprocess.Popen(shlex.split(printed), cwd=ROOT, env=newcomer_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    approve_in_browser(sandbox, "Refund $420 to customer 1182", "alice",    # in a real browser
                       "The duplicate capture is on the statement.")
    out, err = pipeline.communicate(timeout=30)
    assert pipeline.returncode == 0, err
    assert "waiting for a human decision: notified alice, bob" in err and "approved via human_review" in out


def test_errors_tell_the_truth_about_a_missing_sandbox_and_a_missing_stack(sandbox):
    idle = f"http://127.0.0.1:{free_port()}"
    missing = subprocess.run([sys.executable, "-m", "countersign", "status", "x", "--endpoint", idle], cwd=ROOT,
                             env=newcomer_env(), capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1
    assert missing.stderr.strip() == (f"error: no sandbox is running at {idle}: start it with `make local` "
                                      "(or `countersign local`) in another terminal")
    nostack = run_cli(sandbox, "status", "x", "--stack", "Nope")
    assert nostack.returncode == 1
    assert nostack.stderr.strip() == (f"error: there is no stack 'Nope' at {sandbox['aws']}: pass --stack with "
                                      "the sandbox's stack name")


def dispatcher_died(sandbox, tmp_path) -> tuple[str, str]:
    """A pending review made to look as if alice decided and its dispatcher claimed it ten minutes
    ago and died; returns its execution and review."""
    path, marker = proposal_file(tmp_path)
    arn = json.loads(run_cli(sandbox, "submit", str(path), "--json").stdout)["executionArn"]
    review_id = email_for(sandbox, marker)["links"][0].split("/reviews/", 1)[1].split("?", 1)[0]
    aws = {"endpoint_url": sandbox["aws"], "region_name": "us-east-1", "aws_access_key_id": "sandbox",
           "aws_secret_access_key": "sandbox"}
    outputs = {o["OutputKey"]: o["OutputValue"] for o in boto3.client("cloudformation", **aws).describe_stacks(
        StackName="Countersign-sandbox")["Stacks"][0]["Outputs"]}
    decision = {"outcome": "approved", "reviewer": "alice", "rationale": "Duplicate confirmed.", "final_action":
                json.loads(path.read_text())["action"], "diff": [], "decided_at": "2026-11-29T10:00:00Z",
                "votes": []}
    stale = str(int(time.time()) - 600)
    boto3.client("dynamodb", **aws).update_item(
        TableName=outputs["ReviewsTableName"], Key={"pk": {"S": f"REVIEW#{review_id}"}, "sk": {"S": "REVIEW"}},
        UpdateExpression="SET #s = :c, claimed_at = :t, decision_json = :j, outbox = :due, decided_epoch = :t",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":c": {"S": "DISPATCHING"}, ":t": {"N": stale}, ":due": {"S": "due"},
                                   ":j": {"S": json.dumps(decision)}})
    return arn, review_id


def test_redrive_finishes_a_decision_whose_dispatcher_died_once(sandbox, tmp_path):
    for _ in range(3):      # the sandbox's own reconciler sweeps every minute: if it took the review first, again
        arn, review_id = dispatcher_died(sandbox, tmp_path)
        redrive = run_cli(sandbox, "redrive", "--json")
        assert redrive.returncode == 0, redrive.stderr
        sweep = json.loads(redrive.stdout)
        if review_id in sweep["reviews"]:
            break
    assert review_id in sweep["reviews"] and sweep["resumed"] >= 1 and sweep["delivered"] >= 1
    deadline = time.monotonic() + 20
    while json.loads((status := run_cli(sandbox, "status", arn, "--json")).stdout).get("status") == "RUNNING" \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status.returncode == 0 and json.loads(status.stdout)["outcome"] == "approved", status.stdout
    again = run_cli(sandbox, "redrive")                     # safe to repeat: nothing is sent twice
    assert again.returncode == 0 and again.stdout.startswith("redrive: 0 delivered")


def test_the_kill_switch_halts_submissions_and_every_flip_is_audited(sandbox, tmp_path):
    assert run_cli(sandbox, "kill-switch", "status").stdout.startswith("off")
    flipped = run_cli(sandbox, "kill-switch", "on", "--reason", "incident INC-7")
    assert flipped.returncode == 0 and flipped.stdout.startswith("kill switch off → halt (audited: kill-switch/")
    assert flipped.stdout.endswith("; in force within 5 s, as the functions read it through a cache\n")
    try:
        assert run_cli(sandbox, "kill-switch", "status").stdout.startswith("on (halt)")
        time.sleep(5.5)   # Prepare reads the switch through a 5-second cache
        path, _ = proposal_file(tmp_path)
        halted = run_cli(sandbox, "submit", str(path), "--wait", "--json")
        assert halted.returncode == 6 and json.loads(halted.stdout)["error"] == "Countersign.Halted"
        assert json.loads(halted.stdout)["outcome"] == "halted"
    finally:
        assert run_cli(sandbox, "kill-switch", "off").returncode == 0
        time.sleep(5.5)   # and the same cache when it is off again, before the next test submits
    s3 = boto3.client("s3", endpoint_url=sandbox["aws"], region_name="us-east-1",
                      aws_access_key_id="sandbox", aws_secret_access_key="sandbox")
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "auditbucket" in b["Name"])
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="kill-switch/")["Contents"]]
    records = [json.loads(s3.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in keys]
    assert [(r["from"], r["to"]) for r in records][-2:] == [("off", "halt"), ("halt", "off")]
    assert records[-2]["reason"] == "incident INC-7" and records[-2]["actor"].startswith("arn:aws:")
    assert len(records[-2]["policy"]["version"]) == 12



def test_the_sandbox_holds_a_burst_of_100_clicks_and_100_page_views_on_one_review(sandbox, tmp_path):
    from concurrent.futures import ThreadPoolExecutor
    from urllib.error import HTTPError
    from urllib.parse import urlencode

    path, marker = proposal_file(tmp_path)
    arn = json.loads(run_cli(sandbox, "submit", str(path), "--json").stdout)["executionArn"]
    links = {who: email_for(sandbox, marker, who)["links"][0] for who in ("alice", "bob")}
    tokens = {who: link.split("?t=", 1)[1] for who, link in links.items()}

    def fetch(request) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(request, timeout=60) as got:
                return got.status, got.read().decode()
        except HTTPError as refused:           # an answer (409): not a reset
            return refused.code, refused.read().decode()

    def click(i: int) -> tuple[str, str, int, str]:
        who, choice = ("alice", "approve") if i % 2 else ("bob", "reject")
        body = urlencode({"t": urllib.request.unquote(tokens[who]), "decision": choice,
                          "rationale": f"burst {i}", "reason": REASONS.get(choice, "")}).encode()
        status, page = fetch(urllib.request.Request(links[who].split("?")[0] + "/decision", data=body))
        return who, choice, status, page

    with ThreadPoolExecutor(max_workers=100) as pool:      # every request in flight at once
        views = list(pool.map(lambda i: fetch(links["alice" if i % 2 else "bob"])[0], range(100)))
        clicks = list(pool.map(click, range(100)))
    assert views == [200] * 100
    winners = {(who, choice) for who, choice, status, _ in clicks if status == 200}
    assert len(winners) == 1                      # one decision; its reviewer's identical retries answer 200
    for who, choice, status, page in clicks:
        assert status == 200 or (status == 409 and "another decision on this review was recorded first" in page)
    [(who, choice)] = winners
    deadline = time.monotonic() + 20
    while (verdict := json.loads(run_cli(sandbox, "status", arn, "--json").stdout)).get("status") == "RUNNING" \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert verdict["reviewers"][0]["id"] == who and verdict["outcome"] == {"approve": "approved",
                                                                            "reject": "rejected"}[choice]


def test_the_outbox_json_lists_the_newest_email_first(sandbox, tmp_path):
    first, _ = proposal_file(tmp_path)
    second, marker = proposal_file(tmp_path)
    for path in (first, second):
        assert run_cli(sandbox, "submit", str(path)).returncode == 5         # started, pending
    email_for(sandbox, marker, "bob")
    with urllib.request.urlopen(sandbox["web"] + "/outbox.json") as got:
        emails = json.load(got)
    sent = [e["sent_at"] for e in emails]
    assert sent == sorted(sent, reverse=True) and marker in emails[0]["subject"] + emails[1]["subject"]


def test_json_output_is_byte_faithful_and_human_output_prints_data_literally(sandbox, tmp_path):
    """Rich would turn ``:100:`` into an emoji and ``[/x]`` into markup (or a crash): never on data."""
    path, marker = proposal_file(tmp_path)
    pipeline = submit(sandbox, str(path), "--wait", "--json")
    link = email_for(sandbox, marker, "bob")["links"][0]
    token = urllib.request.unquote(link.split("?t=", 1)[1])
    edited = {"customer_id": "cust:100:x", "amount": 20, "currency": "USD"}
    why = "a:b:c user:id:42 tag:ok:1 [/x] [bold]not bold[/bold]"
    answer = post_decision(link, {"t": token, "decision": "modify", "rationale": why, "reason": "wrong_parameters",
                                  "parameters": json.dumps(edited)})
    assert answer.status == 200 and "Decision recorded" in answer.body
    out, err = pipeline.communicate(timeout=30)
    assert pipeline.returncode == 7 and out.count("\n") == 1        # modified; one JSON document, one line
    verdict = json.loads(out)
    assert verdict["outcome"] == "modified" and verdict["final_action"]["parameters"] == edited
    assert verdict["rationale"] == why and verdict["executionArn"] in err   # progress still on stderr
    assert out == json.dumps(verdict) + "\n"                            # byte for byte
    shown = run_cli(sandbox, "status", verdict["executionArn"])
    assert '"customer_id": "cust:100:x"' in shown.stdout and why in shown.stdout and shown.returncode == 7
    assert run_cli(sandbox, "status", verdict["executionArn"], "--proceed-on-modified").returncode == 0


def test_errors_are_one_line_never_markup_and_one_json_document_with_json(sandbox):
    plain = run_cli(sandbox, "status", "x", "--stack", "[/x]")
    assert plain.returncode == 1 and "Traceback" not in plain.stderr
    assert plain.stderr.strip() == (f"error: there is no stack '[/x]' at {sandbox['aws']}: pass --stack with the "
                                    "sandbox's stack name")
    as_json = run_cli(sandbox, "status", "x", "--stack", "[/x]", "--json")
    assert as_json.returncode == 1 and json.loads(as_json.stdout) == {
        "outcome": "error", "executionArn": None,
        "error": f"there is no stack '[/x]' at {sandbox['aws']}: pass --stack with the sandbox's stack name"}


def test_the_review_page_fits_a_phone_at_375_px(sandbox, tmp_path):
    """No sideways scrolling on a phone, even for a long unbroken AI-written summary; a screenshot
    at that width is kept with the test's files."""
    marker = uuid.uuid4().hex[:8]
    path, _ = proposal_file(tmp_path, action={"type": "refund.issue", "parameters": {
        "customer_id": "cust-" + "9" * 60, "amount": 12, "currency": "EUR"}, "summary": f"Refund {marker} " + "x" * 180})
    pipeline = submit(sandbox, str(path))
    pipeline.communicate(timeout=30)
    link = email_for(sandbox, marker)["links"][0]
    pw, chromium = browser()
    try:
        page = chromium.new_page(viewport={"width": 375, "height": 812})
        page.goto(link)
        page.wait_for_selector("form")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.screenshot(path=str(tmp_path / "review-375.png"), full_page=True)
    finally:
        chromium.close()
        pw.stop()
    assert (tmp_path / "review-375.png").stat().st_size > 0


def test_a_reviewer_modifies_a_refund_through_the_generated_form_on_a_phone_and_confirms_the_diff(sandbox, tmp_path):
    """The typed fields, the confirm page's old → new per field, and a verdict that carries exactly
    those changes; both pages fit 375 px."""
    from countersign.review.reviews import diff_values

    path, marker = proposal_file(tmp_path)
    pipeline = submit(sandbox, str(path), "--wait", "--json")
    link = email_for(sandbox, marker, "bob")["links"][0]
    pw, chromium = browser()
    try:
        page = chromium.new_page(viewport={"width": 375, "height": 812})
        page.goto(link)
        page.wait_for_selector("form")
        assert page.get_attribute("input[name='p.amount']", "type") == "number"
        assert page.get_attribute("input[name='p.amount']", "max") == "10000"
        assert page.eval_on_selector_all("select[name='p.currency'] option", "os => os.map(o => o.value)") == \
            ["USD", "EUR", "GBP"]
        page.check("input[value=modify]")
        page.fill("#rationale", "Only the second capture was a duplicate; refund it in EUR.")
        page.select_option("select[name='reason']", "wrong_parameters")
        page.fill("input[name='p.amount']", "210.5")
        page.select_option("select[name='p.currency']", "EUR")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.click("button[type=submit]")
        page.wait_for_selector("text=Confirm your changes")
        shown = page.eval_on_selector_all("ul.changes li", "lis => lis.map(li => li.innerText)")
        assert shown == ["amount: 420 → 210.5", 'currency: "USD" → "EUR"']
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.screenshot(path=str(tmp_path / "confirm-375.png"), full_page=True)
        page.click("button[type=submit]")
        page.wait_for_selector("text=Decision recorded")
    finally:
        chromium.close()
        pw.stop()
    out, err = pipeline.communicate(timeout=30)
    assert pipeline.returncode == 7, err                                 # modified: act on final_action
    verdict = json.loads(out)
    assert verdict["final_action"]["parameters"] == {"customer_id": "1182", "amount": 210.5, "currency": "EUR"}
    original = json.loads(path.read_text())["action"]["parameters"]
    assert [f"{d['path'].removeprefix('$.parameters.')}: {json.dumps(d['before'])} → {json.dumps(d['after'])}"
            for d in diff_values(original, verdict["final_action"]["parameters"], "$.parameters")] == shown


def test_countersign_local_serves_each_reviewers_inbox_from_the_emailed_link(sandbox, tmp_path):
    import html
    import re

    path, marker = proposal_file(tmp_path)
    run_cli(sandbox, "submit", str(path), "--json")
    email = email_for(sandbox, marker, "bob")
    [url] = re.findall(r"http://\S+/inbox\?t=\S+", email["body"])
    assert email["inbox"] == url                                # outbox.json names it, for scripts
    found = []
    while url:                                                  # page by page, as a reader follows "Next page"
        page = urllib.request.urlopen(url).read().decode()
        assert "You are <strong>bob</strong>" in page
        found += [li for li in re.findall(r"<li>(.*?)</li>", page, re.S) if f"Refund case {marker}" in li]
        nxt = re.search(r'<a href="([^"]+)">Next page</a>', page)
        url = sandbox["web"] + "/" + html.unescape(nxt.group(1)) if nxt else ""
    [entry] = found
    review = sandbox["web"] + "/" + html.unescape(re.search(r'<a href="\./([^"]+)">', entry).group(1))
    assert f"Refund case {marker}" in urllib.request.urlopen(review).read().decode()
