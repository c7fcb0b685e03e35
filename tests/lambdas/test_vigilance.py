"""The vigilance watch, invoked as deployed (its own environment, in-process under moto), over a
trail of its own: the metrics it emits name who is flagged, the alarms' metrics count them, and
it writes nothing."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import boto3
import pytest

from countersign.sandbox import lambda_runtime
from tests.fixtures.synthetic_trail import vigilance_trail


def trail() -> list[tuple[str, bytes]]:
    return vigilance_trail(datetime.now(timezone.utc))


@pytest.fixture
def watched(stack, capsys, monkeypatch):
    """Invoke the deployed watch with its bucket pointed at a trail of its own, metrics on (the
    in-process runtime turns Powertools metrics off process-wide; they are read at flush time)."""
    s3 = boto3.client("s3")
    bucket = "countersign-vigilance-test"
    s3.create_bucket(Bucket=bucket)
    for key, body in trail():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    name = stack.deployment.function_name("lambdas.vigilance")
    lambda_runtime.ENV_OVERRIDES[name] = {"AUDIT_BUCKET": bucket}
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    lambda_runtime.reset()
    try:
        capsys.readouterr()
        got = boto3.client("lambda").invoke(FunctionName=name, Payload=b"{}")
        assert "FunctionError" not in got, got["Payload"].read()
        assert got["StatusCode"] == 200
        result = json.loads(got["Payload"].read())
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    finally:
        del lambda_runtime.ENV_OVERRIDES[name]
        lambda_runtime.reset()
    return result, lines, keys


def emitted(lines: list[dict], name: str) -> dict:
    """{reviewer or None: value} of one metric across the EMF documents."""
    return {doc.get("Reviewer"): doc[name] for doc in lines if name in doc}


def test_the_watch_names_who_needs_attention_and_why(watched):
    result, _, _ = watched
    assert result["window_days"] == 30 and result["lines"] == 3          # gus's 2020 decision is outside the window
    assert result["flagged"] == {"rubber_stamp": 1, "fast": 1, "missed_canary": 1}
    attention = {a["reviewer"]: a for a in result["attention"]}
    assert sorted(attention) == ["dora", "erin"]
    assert attention["dora"]["flags"] == ["rubber_stamp", "fast"] and attention["dora"]["median_dwell"] == 3.0
    assert attention["erin"]["flags"] == ["missed_canary"] and (attention["erin"]["caught"],
                                                                attention["erin"]["missed"]) == (0, 1)


def test_the_watch_emits_the_alarms_metrics_and_one_per_reviewer(watched):
    _, lines, _ = watched
    flat = {name: {k: (v[0] if isinstance(v, list) else v) for k, v in emitted(lines, name).items()}
            for name in ("RubberStampReviewers", "FastReviewers", "MissedCanaryReviewers",
                         "RubberStamp", "FastDwell", "MissedCanaries")}
    assert flat["RubberStampReviewers"] == flat["FastReviewers"] == flat["MissedCanaryReviewers"] == {None: 1.0}
    assert flat["RubberStamp"] == {"dora": 1.0, "erin": 0.0, "frank": 0.0}
    assert flat["FastDwell"] == {"dora": 1.0, "erin": 0.0, "frank": 0.0}
    assert flat["MissedCanaries"] == {"dora": 0.0, "erin": 1.0, "frank": 0.0}
    aggregate = next(doc for doc in lines if "RubberStampReviewers" in doc)
    [directive] = aggregate["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Countersign" and directive["Dimensions"] == [["service"]]
    assert aggregate["service"] == "countersign"
    per = next(doc for doc in lines if "RubberStamp" in doc and doc.get("Reviewer") == "dora")
    assert per["ActionType"] == "refund.issue" and per["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Countersign"


def test_the_watch_writes_nothing(watched):
    _, _, keys = watched
    assert keys == sorted(key for key, _ in trail())
