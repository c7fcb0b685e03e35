"""The vigilance watch, invoked as deployed (its own environment, in-process under moto), over a
trail of its own: the metrics it emits name who is flagged, the alarms' metrics count them, and
it writes nothing."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import boto3
import pytest

from countersign.evidence.audit import GENESIS, RECORD_SCHEMA, record_hash
from countersign.rules import canonical
from countersign.sandbox import lambda_runtime

TODAY = datetime.now(timezone.utc)


def decision(index: int, reviewer: str, outcome: str, dwell: float | None, **extra) -> tuple[str, bytes]:
    stream = f"executions/{TODAY:%Y/%m/%d}/gate/watch-{index:05d}"
    record = {"schema": RECORD_SCHEMA, "event": "decision_recorded", "event_key": f"decision_recorded.rv-{index}",
              "stream": stream, "seq": 1, "prev_hash": GENESIS, "recorded_at": f"{TODAY:%Y-%m-%d}T10:00:00.000Z",
              "actor": f"reviewer:{reviewer}", "review_id": f"rv-{index:020x}", "action_type": "refund.issue",
              "confidence": 0.8, "route": "pending", "mode": "review", "reviewer": reviewer, "decision": outcome,
              "decided_at": f"{TODAY:%Y-%m-%d}T10:{index // 60 % 60:02d}:{index % 60:02d}Z", "dwell_seconds": dwell,
              "execution": {"arn": f"arn:aws:states:us-east-1:123456789012:execution:gate:watch-{index:05d}"},
              "facts": {"risk": "medium", "spot_check": False}, "policy": {"version": "v"}, **extra}
    record["hash"] = record_hash(record)
    return f"{stream}/000001.json", canonical.dumps(record).encode()


def trail() -> list[tuple[str, bytes]]:
    """dora approves all 60 as proposed in 3 s each; erin decides 20 with care but approves a canary;
    frank's 10 are careful and catch his canary."""
    found = [decision(i, "dora", "approved", 3.0) for i in range(60)]
    found += [decision(100 + i, "erin", "rejected" if i % 2 else "approved", 40.0) for i in range(19)]
    found.append(decision(119, "erin", "approved", 35.0, canary={"rule": "amount over the limit"}))
    found += [decision(200 + i, "frank", "modified", None if i < 3 else 25.0) for i in range(9)]
    found.append(decision(209, "frank", "rejected", 60.0, canary=True))
    found.append(("executions/2020/01/01/gate/old/000001.json", decision(300, "gus", "approved", 2.0)[1]))
    return found


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
