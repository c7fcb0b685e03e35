"""The modify form generated from an action type's parameter schema: typed fields, enums as
selects, bounds as input limits, raw JSON only where the generator cannot render the schema, and
each posted field converted back to its JSON type."""
from __future__ import annotations

import pytest

from countersign.review import precedents, schema_form
from countersign.review.pages import review_page
from tests.unit.builders import CONTEXT, make_review

REFUND = CONTEXT["policy"]["action_types"]["refund.issue"]["parameters"]
PARAMS = {"customer_id": "1182", "amount": 420, "currency": "USD"}


def test_a_flat_schema_becomes_typed_fields_with_its_limits():
    fields = {f.name: f for f in schema_form.fields(REFUND, PARAMS)}
    assert (fields["customer_id"].kind, fields["customer_id"].limits) == ("text", {"maxlength": "64"})
    assert (fields["amount"].kind, fields["amount"].value) == ("number", "420")
    assert fields["amount"].limits == {"step": "any", "min": "0", "max": "10000"}
    assert (fields["currency"].kind, fields["currency"].options) == ("select", ("USD", "EUR", "GBP"))
    assert all(f.required for f in fields.values())


def test_the_review_page_renders_the_fields_not_the_json_textarea():
    html = review_page(make_review(), "alice", "tok", "/decision")
    assert '<input id="p-2" name="p.amount" type="number" value="420" step="any" min="0" max="10000">' in html
    assert '<option value="USD" selected>USD</option><option value="EUR">EUR</option>' in html
    assert 'name="p.customer_id" type="text" value="1182" maxlength="64"' in html
    assert '<textarea id="parameters"' not in html


@pytest.mark.parametrize("schema, params", [
    ({"type": "object", "properties": {"lines": {"type": "array"}}}, {"lines": []}),
    ({"type": "object", "properties": {"to": {"type": "object"}}}, {"to": {}}),
    ({"type": "object", "properties": {"n": {"type": ["integer", "null"]}}}, {"n": 1}),
    ({"type": "object", "properties": {"n": {"type": "integer"}}}, {"n": 1, "extra": 2}),   # not described
    ({"type": "object"}, {"anything": 1}),
])
def test_what_the_generator_cannot_render_falls_back_to_raw_json(schema, params):
    assert schema_form.fields(schema, params) is None


def test_posted_fields_come_back_as_their_json_types():
    form = {"p.customer_id": "1182", "p.amount": "210", "p.currency": "EUR"}
    assert schema_form.parse(REFUND, form, PARAMS) == {"customer_id": "1182", "amount": 210, "currency": "EUR"}
    assert schema_form.parse(REFUND, {**form, "p.amount": "210.5"}, PARAMS)["amount"] == 210.5
    flags = {"type": "object", "properties": {"dry_run": {"type": "boolean"}, "n": {"type": "integer"}}}
    assert schema_form.parse(flags, {"p.dry_run": "false", "p.n": ""}, {"dry_run": True}) == {"dry_run": False}


@pytest.mark.parametrize("posted, words", [
    ({"p.amount": "lots"}, "amount must be a number, got 'lots'"),
    ({"p.amount": "nan"}, "amount must be a finite number"),
    ({"p.currency": "JPY"}, "currency must be one of USD, EUR, GBP"),
])
def test_a_field_that_is_not_its_type_is_refused_in_plain_words(posted, words):
    with pytest.raises(ValueError) as caught:
        schema_form.parse(REFUND, {"p.customer_id": "1", "p.amount": "1", "p.currency": "USD", **posted}, PARAMS)
    assert str(caught.value) == words


@pytest.mark.parametrize("confidence, band", [(0.3, 3), (0.72, 7), (0.79999, 7), (0.0, 0), (1.0, 9), (0.15, 1)])
def test_confidence_bands_hold_their_lower_edge(confidence, band):
    assert precedents.band(confidence) == band


def test_the_track_record_counts_the_history_by_band_and_shows_only_the_risks_the_viewer_may_see():
    from types import SimpleNamespace as Row

    def row(confidence, outcome, risk="medium", canary=False, action_type="finance.payout"):
        return Row(action_type=action_type, confidence=confidence, risk=risk, canary=canary,
                   override=outcome != "approved")
    history = [row(0.15, "approved"), row(0.12, "rejected"), row(0.11, "modified", risk="high"),
               row(0.13, "rejected", canary=True), row(0.55, "rejected"), row(0.14, "rejected", action_type="other")]
    doc = precedents.track_document(history, "2026-11-29T19:00:00Z")
    assert doc["decisions"] == 5 and doc["counts"]["finance.payout"]["1"] == {"medium": [2, 1], "high": [1, 1]}

    class Registry:
        def may_see(self, viewer, action_type, risk):
            return risk == "medium" or viewer == "alice"
    review = Row(review_id="rv-x", case=Row(action={"type": "finance.payout"}, confidence=0.18))
    _, carols = precedents.earlier([], review, "carol", Registry(), 0, doc)
    _, alices = precedents.earlier([], review, "alice", Registry(), 0, doc)
    _, before = precedents.earlier([], review, "alice", Registry(), 0, None)
    assert (carols.overridden, carols.decided, carols.low, carols.high) == (1, 2, 0.1, 0.2)
    assert (alices.overridden, alices.decided, alices.as_of) == (2, 3, "2026-11-29T19:00:00Z")
    assert (before.decided, before.as_of) == (0, None)
