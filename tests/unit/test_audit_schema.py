"""The audit record schema (countersign/schemas/audit-record.v1.json): one definition per event,
valid JSON Schema 2020-12, documented, and strict: a record missing a field, with a field of the
wrong type or with a field no event has is refused."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from countersign.evidence import audit
from countersign.adapters.deps import Deps
from countersign.review.reviews import DECIDED, Decision
from countersign.rules.routing import facts
from countersign.rules.validation import AUDIT_RECORD_SCHEMA, SchemaError, load_schema, validate_audit_record
from countersign.workflow.verdicts import record_decision
from tests.unit.builders import REVIEW_ID, make_case, make_review
from tests.unit.test_audit import FakeStore

SCHEMA = load_schema(AUDIT_RECORD_SCHEMA)
DOC = (Path(__file__).parents[2] / "docs" / "audit-schema.md").read_text()


def case(**changes):
    sample = make_case()
    return replace(sample, facts={**facts(sample.proposal, sample.rules, 0.5, "off"), "submitted_by": None,
                                  "proposed_by": []}, **changes)


def decided(names: dict[str, str] | None = None) -> dict:
    """A decision_recorded record written by the real code path."""
    decision = Decision("approved", "alice", "Checked.", make_case().action, [], "2026-11-24T09:30:00Z",
                        rendered_at="2026-11-24T09:29:12.345Z", dwell_seconds=47.655)
    review = make_review(case(identities=names or {}), status=DECIDED,
                         decision=replace(decision, votes=[decision.vote()]))
    return record_decision(review, Deps(audit=FakeStore()))


def requested() -> dict:
    sample = case()
    return audit.append(FakeStore(), sample.execution.audit_stream, "review_requested", sample.record({
        "actor": "system:request", "reason": "below the threshold", "mode": "review", "tier": 1,
        "reviewers": ["alice", "bob"], "deadline": 1795514400}))


def refused_link() -> dict:
    return audit.append(FakeStore(), audit.refusal_stream("req-1"), "refused_request", {
        "actor": "anonymous", "status": 403, "reason": "link expired",
        "request": {"review_id": REVIEW_ID, "method": "GET"}, "source_ip": "192.0.2.1", "user_agent": "mail scanner"})


def refusal_of(record: dict) -> str:
    with pytest.raises(SchemaError) as caught:
        validate_audit_record(record)
    assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(record)   # the reference validator agrees
    return caught.value.message


def test_the_schema_is_json_schema_2020_12_with_one_definition_per_event():
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert set(SCHEMA["properties"]["event"]["enum"]) == audit.EVENTS
    defined = {name.split(".")[1] for name in SCHEMA["$defs"] if name.startswith("event.")}
    assert defined == audit.EVENTS
    assert SCHEMA["$defs"]["envelope"]["properties"]["schema"] == {"const": audit.RECORD_SCHEMA}


def test_every_event_is_documented():
    documented = set(re.findall(r"^### `([a-z_]+)`", DOC, re.MULTILINE))
    assert documented == audit.EVENTS


@pytest.mark.parametrize("make", [decided, requested, refused_link, lambda: decided({"alice": "ps-" + "a" * 24})])
def test_records_the_code_writes_are_valid(make):
    record = make()
    validate_audit_record(record)
    assert jsonschema.Draft202012Validator(SCHEMA).is_valid(record)


@pytest.mark.parametrize("make, field", [
    (decided, "reviewer"), (decided, "votes"), (decided, "decided_at"), (decided, "hash"),
    (requested, "deadline"), (requested, "reviewers"), (requested, "facts"),
    (refused_link, "status"), (refused_link, "request"),
])
def test_a_record_missing_a_field_is_refused(make, field):
    record = make()
    del record[field]
    assert f"must contain ['{field}']" in refusal_of(record)


@pytest.mark.parametrize("make, path, value, message", [
    (decided, ["reviewer"], 7, "$.reviewer must be string"),
    (decided, ["dwell_seconds"], "47s", "$.dwell_seconds"),
    (decided, ["votes", 0, "decided_at"], 1795514400, "$.votes[0].decided_at must be string"),
    (requested, ["deadline"], "tomorrow", "$.deadline must be integer"),
    (requested, ["tier"], 0, "$.tier must be bigger than or equal to 1"),
    (requested, ["seq"], "1", "$.seq must be integer"),
    (refused_link, ["status"], "403", "$.status must be integer"),
    (refused_link, ["request", "method"], "DELETE", "$.request.method must be one of"),
])
def test_a_record_with_a_field_of_the_wrong_type_is_refused(make, path, value, message):
    record = make()
    target = record
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert message in refusal_of(record)


def test_a_field_no_event_has_and_an_unknown_event_are_refused():
    record = requested()
    assert "propertyName" in refusal_of({**record, "reviewer": "alice"})   # review_requested has no reviewer
    assert "must be one of" in refusal_of({**record, "event": "review_cancelled"})
    assert "countersign.audit/1" in refusal_of({**record, "schema": "countersign.audit/2"})


def test_a_pseudonymous_decision_record_names_no_reviewer_id():
    names = {"alice": "ps-" + "a" * 24, "bob": "ps-" + "b" * 24}
    record = decided(names)
    assert record["reviewer"] == names["alice"] and record["votes"][0]["reviewer"] == names["alice"]
    assert "alice" not in str({k: v for k, v in record.items() if k != "requested_by"})
    validate_audit_record(record)
