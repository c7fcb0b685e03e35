"""The session's schema check of every audit record written in-process (tests/fixtures/records.py)
really catches a record that does not match, and names its event, key and error."""
from __future__ import annotations

import boto3

from countersign.rules import canonical
from countersign.adapters.aws import S3AuditStore
from tests.fixtures import records
from tests.helpers import unique


def test_every_record_written_is_checked_against_the_schema(stack):
    bad = {"schema": "countersign.audit/1", "event": "review_requested", "seq": "one"}
    store = S3AuditStore(boto3.client("s3"), stack.audit_bucket)
    assert store.put_new(f"schema-check/{unique()}/000001.json", canonical.dumps(bad).encode())
    failures = records.take_failures()             # taken, so this test itself passes
    assert len(failures) == 1 and "'review_requested' record at schema-check/" in failures[0]
    assert "must contain" in failures[0] or "must be integer" in failures[0]
