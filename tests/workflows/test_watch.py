"""What operations watch, as the reminder sweep reports it (its return value and its EMF
metrics): pending reviews, the oldest one's age, and the kill switch; and Conclude's time to a
human decision."""
from __future__ import annotations

import json
import re
import time

import pytest

from countersign.sandbox import lambda_runtime
from tests.helpers import decide, proposal, review_link, unique
from tests.workflows.test_escalation import sweep   # what the EventBridge schedule does


def emitted(out: str, name: str) -> list[float]:
    """The values of one metric in the EMF records printed by the functions."""
    values = []
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line and f'"{name}"' in line:
            record = json.loads(line)
            assert record["service"] == "countersign"
            directive = record["_aws"]["CloudWatchMetrics"][0]
            assert (directive["Namespace"], directive["Dimensions"]) == ("Countersign", [["service"]])
            value = record[name]
            values += value if isinstance(value, list) else [value]
    return values


@pytest.fixture
def metrics_on(stack, monkeypatch):
    """The sandbox turns Powertools metrics off (process-wide, read when they are flushed); here the
    functions print theirs (EMF), and the sweep reads the kill switch uncached."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    reminders = stack.deployment.function_name("lambdas.reminders")
    lambda_runtime.ENV_OVERRIDES.setdefault(reminders, {})["KILL_SWITCH_CACHE_SECONDS"] = "0"
    lambda_runtime.reset()
    yield
    del lambda_runtime.ENV_OVERRIDES[reminders]["KILL_SWITCH_CACHE_SECONDS"]
    lambda_runtime.reset()


def test_the_sweep_reports_pending_reviews_their_oldest_age_and_the_kill_switch(stack, kill_switch, metrics_on, capsys):
    arn = stack.start(proposal(), unique("watched"))
    link = review_link(stack, arn)
    entered = time.time()
    time.sleep(1.1)
    seen = sweep(stack)
    assert seen["pending"] >= 1 and seen["oldest_seconds"] >= 1 and seen["kill_switch_engaged"] is False
    out = capsys.readouterr().out
    assert emitted(out, "PendingReviews") == [seen["pending"]]
    assert emitted(out, "OldestPendingReviewSeconds") == [seen["oldest_seconds"]]
    assert emitted(out, "KillSwitchEngaged") == [0]

    kill_switch("human")
    assert sweep(stack)["kill_switch_engaged"] is True
    assert emitted(capsys.readouterr().out, "KillSwitchEngaged") == [1]
    kill_switch("off")

    before = sweep(stack)["pending"]
    assert decide(stack, link, "approve", "").status == 200
    assert stack.wait(arn)["status"] == "SUCCEEDED"
    assert sweep(stack)["pending"] == before - 1        # decided: no longer pending
    waited = emitted(capsys.readouterr().out, "TimeToDecisionSeconds")   # Conclude's, for this decision
    assert waited and any(0 < w <= time.time() - entered + 5 for w in waited)


def test_a_review_api_refusal_is_counted_by_its_status(stack, metrics_on, capsys):
    arn = stack.start(proposal(), unique("refused"))
    link = review_link(stack, arn)
    forged = re.sub(r"t=[^&]+", "t=forged", link)
    assert stack.http("GET", forged).status == 403
    assert emitted(capsys.readouterr().out, "RequestsRefused_403") == [1]
