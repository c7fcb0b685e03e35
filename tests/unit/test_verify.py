"""The verifier on a large, clean trail: no false alarms, every record counted, and lock settings
checked against what the bucket promises."""
from __future__ import annotations

from datetime import timedelta

from countersign.evidence.verify import Stored, check
from tests.fixtures.synthetic_trail import START, build


def test_a_clean_trail_of_10000_records_gives_zero_false_alarms():
    objects, public_key = build(10_000)
    report = check(objects, public_key, {"mode": "GOVERNANCE", "days": 1}, now=START + timedelta(hours=4, minutes=5))
    assert report.problems == []
    assert (report.records, report.streams, report.digests, report.pending) == (10_000, 2_000, 4, 0)


def test_a_lock_weaker_than_the_bucket_promises_is_named():
    objects, public_key = build(10, per_stream=5, hours=1)
    weaker = [Stored(o.key, o.body, "GOVERNANCE" if i else "NONE", o.retain_until) for i, o in enumerate(objects)]
    report = check(weaker, public_key, {"mode": "COMPLIANCE", "days": 1})
    assert len(report.problems) == len(objects)
    assert report.problems[0].line() == f"{objects[0].key}: object lock mode NONE (expected COMPLIANCE, as the " \
                                        "bucket is configured)"


def test_a_period_is_not_reported_missing_what_lies_outside_it_but_a_gap_inside_it_is():
    objects, public_key = build(100, hours=2)
    outside = "executions/2026/11/01/gate/exec-0000000"
    period = [o for o in objects if not o.key.startswith(outside + "/")]
    assert len(check(period, public_key).problems) == 1          # without a scope: its head looks deleted
    assert check(period, public_key, scope=lambda stream: stream != outside).problems == []
    scoped = check(period, public_key, scope=lambda stream: True)  # in the period, yet gone: still caught
    assert [p.what for p in scoped.problems] == ["missing"]
