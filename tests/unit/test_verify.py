"""The verifier on a large, clean trail: no false alarms, every record counted, and lock settings
checked against what the bucket promises."""
from __future__ import annotations

from datetime import timedelta

from countersign.verify import Stored, check
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
