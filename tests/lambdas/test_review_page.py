"""What the review page adds to the case, through the deployed template's routes: earlier decisions
on the action type (scoped to what the reviewer may see), the track record at this confidence
band, and the generated modify form with its confirm step."""
from __future__ import annotations

import html
import json
import re

from tests.faults.conftest import invoke
from tests.helpers import decide, decision_url, hidden_fields, proposal, review_link, unique
from tests.lambdas.test_review_api import item, new_refusals, refusals, review_id_of_link

PAYOUT = {**proposal()["action"], "type": "finance.payout"}


def precedents_of(page: str) -> list[str]:
    found = re.search(r'<ul class="precedents">(.*?)</ul>', page, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", li)).strip() for li in re.findall(r"<li>(.*?)</li>", found.group(1), re.S)] \
        if found else []


def test_precedents_show_recent_decisions_on_the_type_and_nothing_the_reviewer_may_not_see(stack):
    marker = unique("prec")
    for _ in range(4):                                                              # enough history for five
        earlier = stack.start(proposal(), unique("p-earlier"))
        assert decide(stack, review_link(stack, earlier, "bob"), "approve", "earlier").status == 200
    high = stack.start(proposal(risk="high"), unique("p-high"))                    # above carol's authority
    assert decide(stack, review_link(stack, high, "alice"), "reject", f"{marker} high").status == 200
    medium = stack.start(proposal(), unique("p-medium"))
    assert decide(stack, review_link(stack, medium, "bob"), "approve", f"{marker} medium").status == 200
    other = stack.start(proposal(action=PAYOUT), unique("p-other"))                 # another action type
    assert decide(stack, review_link(stack, other, "carol"), "reject", f"{marker} payout").status == 200
    viewing = stack.start(proposal(), unique("p-view"))
    carols = precedents_of(stack.http("GET", review_link(stack, viewing, "carol")).body)
    alices = precedents_of(stack.http("GET", review_link(stack, viewing, "alice")).body)
    assert len(carols) == len(alices) == 5                                          # the last five, no more
    assert re.fullmatch(rf"Approved by bob, (just now|\d+ min ago): “{marker} medium”", carols[0])
    assert re.fullmatch(rf"Rejected by alice, (just now|\d+ min ago): “{marker} high”", alices[1])
    assert alices[0] == carols[0] and not any(marker in p for p in carols[1:])
    assert not any("payout" in p for p in carols + alices)


def track_of(page: str) -> tuple[int, int] | None:
    """(overrides, decisions) the page's track record shows; (0, 0) for none in the band; None
    before the calibrator has counted the history."""
    if "Track record: not counted yet" in page:
        return None
    found = re.search(r"overrode the model in <strong>(\d+) of (\d+)</strong> decisions on this action type that "
                      r"you may see \(decision history as of \d{4}-\d\d-\d\dT", page)
    if found:
        return int(found.group(1)), int(found.group(2))
    assert re.search(r"Track record: no decision at confidence 0\.1–0\.2 on this action type", page), page
    return 0, 0


def test_the_track_record_counts_overrides_at_this_confidence_band_from_the_decision_history(stack):
    viewing = stack.start(proposal(action=PAYOUT, confidence=0.18), unique("track-view"))
    link = review_link(stack, viewing, "carol")
    invoke(stack, "lambdas.calibrate", {"dry_run": True})        # what its schedule does; no threshold moves
    before = track_of(stack.http("GET", link).body)
    for confidence, choice in [(0.15, "approve"), (0.12, "reject"), (0.55, "reject")]:
        arn = stack.start(proposal(action=PAYOUT, confidence=confidence), unique("track"))
        assert decide(stack, review_link(stack, arn, "carol"), choice, "checked").status == 200
        stack.wait(arn)
    assert track_of(stack.http("GET", link).body) == before            # counted when the calibrator runs
    invoke(stack, "lambdas.calibrate", {"dry_run": True})
    after = track_of(stack.http("GET", link).body)
    # in this band (0.1-0.2): one more override in two more decisions (0.55 is another band)
    assert after == (before[0] + 1, before[1] + 2)


def test_a_modification_through_the_generated_form_is_confirmed_with_its_diff_then_recorded_as_shown(stack):
    arn = stack.start(proposal(), unique("form"))
    link = review_link(stack, arn, "bob")
    page = stack.http("GET", link).body
    assert 'name="p.amount" type="number" value="420" step="any" min="0" max="10000"' in page
    form = {**hidden_fields(page), "decision": "modify", "reason": "wrong_parameters", "rationale": "Only one charge was doubled.",
            "p.customer_id": "1182", "p.amount": "210", "p.currency": "EUR"}
    confirm = stack.http("POST", decision_url(link), form)
    shown = [html.unescape(re.sub(r"<[^>]+>", "", li)) for li in re.findall(r"<li>(.*?)</li>", confirm.body)]
    assert confirm.status == 200 and "Confirm your changes" in confirm.body
    assert shown == ["amount: 420 → 210", 'currency: "USD" → "EUR"']
    assert item(stack, review_id_of_link(link))["status"]["S"] == "PENDING"         # nothing recorded yet
    done = stack.http("POST", decision_url(link), hidden_fields(confirm.body))
    assert done.status == 200 and "Decision recorded" in done.body
    verdict = json.loads(stack.wait(arn)["output"])
    assert verdict["outcome"] == "modified"
    assert verdict["final_action"]["parameters"] == {"customer_id": "1182", "amount": 210, "currency": "EUR"}
    [recorded] = [r for r in stack.execution_records(arn) if r["event"] == "decision_recorded"]
    assert recorded["diff"] == [{"path": "$.parameters.amount", "before": 420, "after": 210},
                                {"path": "$.parameters.currency", "before": "USD", "after": "EUR"}]


def test_a_confirm_form_altered_after_it_was_shown_is_refused_and_audited(stack):
    arn = stack.start(proposal(), unique("altered"))
    link = review_link(stack, arn, "alice")
    page = stack.http("GET", link).body
    confirm = stack.http("POST", decision_url(link), {**hidden_fields(page), "decision": "modify", "reason": "wrong_parameters", "rationale": "less",
                                                      "p.customer_id": "1182", "p.amount": "10", "p.currency": "USD"})
    altered = {**hidden_fields(confirm.body), "parameters": json.dumps({"customer_id": "1182", "amount": 9000,
                                                                        "currency": "USD"})}
    before = refusals(stack)
    answer = stack.http("POST", decision_url(link), altered)
    assert answer.status == 400 and "the changes sent are not the ones your confirm page showed" in answer.body
    [record] = new_refusals(stack, before)
    assert record["status"] == 400 and record["actor"] == "reviewer:alice" and "confirm page" in record["reason"]
    reworded = {**hidden_fields(confirm.body), "rationale": "something the page never showed"}
    assert stack.http("POST", decision_url(link), reworded).status == 400             # the rationale is sealed too
    assert item(stack, review_id_of_link(link))["status"]["S"] == "PENDING"


def test_a_generated_field_of_the_wrong_type_is_refused_in_plain_words(stack):
    arn = stack.start(proposal(), unique("typed"))
    link = review_link(stack, arn, "alice")
    page = stack.http("GET", link).body
    before = refusals(stack)
    answer = stack.http("POST", decision_url(link), {**hidden_fields(page), "decision": "modify", "reason": "wrong_parameters", "rationale": "x",
                                                     "p.customer_id": "1182", "p.amount": "210", "p.currency": "JPY"})
    assert answer.status == 400 and "the modified parameters are not valid: currency must be one of USD, EUR, GBP" \
        in answer.body
    [record] = new_refusals(stack, before)
    assert record["status"] == 400 and "currency must be one of" in record["reason"]


def test_a_schema_the_generator_cannot_render_keeps_the_raw_json_editor(stack):
    arn = stack.start(proposal(action={**PAYOUT, "type": "payout.risky"}), unique("raw"))   # no parameter schema
    page = stack.http("GET", review_link(stack, arn, "alice")).body
    assert '<textarea id="parameters" name="parameters"' in page and 'name="p.' not in page
