"""Override reasons end to end: a reviewer in a real browser rejects without a reason category,
is told so in plain words, goes back, chooses one, and the pipeline and the trail see it."""
from __future__ import annotations

import json

from tests.e2e.pipeline import browser, email_for, proposal_file, submit
from tests.e2e.test_compliance_report import trail_records


def test_a_rejection_needs_a_reason_category_and_the_trail_records_the_one_chosen(sandbox, tmp_path):
    path, marker = proposal_file(tmp_path)
    pipeline = submit(sandbox, str(path), "--wait", "--json")
    link = email_for(sandbox, marker, "bob")["links"][0]
    pw, chromium = browser()
    try:
        page = chromium.new_page()
        page.goto(link)
        assert page.locator("#reason option").all_inner_texts() == [
            "(choose one to modify or reject)", "wrong parameters", "wrong action", "insufficient evidence",
            "policy", "other"]
        page.check("input[value=reject]")
        page.fill("#rationale", "No order number <b>matches</b> this charge.")
        page.click("button[type=submit]")
        page.wait_for_selector("text=Decision not recorded")
        assert ("choose a reason to reject from the list: wrong parameters, wrong action, insufficient evidence, "
                "policy, other") in page.inner_text("p.error")
        page.click("text=Back to the review")
        page.check("input[value=reject]")
        page.select_option("#reason", "insufficient_evidence")
        page.fill("#rationale", "No order number <b>matches</b> this charge.")
        page.click("button[type=submit]")
        page.wait_for_selector("text=Decision recorded")
        page.goto(link)
        assert "Reason: insufficient evidence" in page.inner_text("body")
        assert "Rationale: No order number <b>matches</b> this charge." in page.inner_text("body")  # shown as text
    finally:
        chromium.close()
        pw.stop()
    out, err = pipeline.communicate(timeout=30)
    assert pipeline.returncode == 2, err
    verdict = json.loads(out)
    assert verdict["outcome"] == "rejected"
    [decided] = [r for r in trail_records(sandbox, [verdict["executionArn"]]) if r["event"] == "decision_recorded"]
    assert (decided["decision"], decided["reason"], decided["reviewer"]) == ("rejected", "insufficient_evidence", "bob")
