"""Following an execution: each kind of wait named with its tier's reviewers and deadline, a
heartbeat for CI logs, and the API-call budget of a 48-hour wait that the README states."""
from __future__ import annotations

import json
import random
from datetime import datetime, timezone

import pytest

from countersign.cli import follow
from countersign.cli.follow import AWS_PACE, Progress

ENTERED = datetime(2026, 11, 29, 9, 0, tzinfo=timezone.utc)


def entered(name: str, tier: dict | None = None, windows: dict | None = None, event_id: int = 9) -> dict:
    state = {"current_tier": tier or {"index": 0, "reviewers": ["alice", "bob"], "last": True},
             "windows": windows or {"human_review": 3600, "veto_window": 600, "post_execution": 7200, "post_hoc": 900}}
    return {"id": event_id, "type": "TaskStateEntered", "timestamp": ENTERED,
            "stateEnteredEventDetails": {"name": name, "input": json.dumps(state)}}


class History:
    """A Step Functions client whose execution is at ``events`` until ``ends_at`` (its clock)."""

    def __init__(self, events: list[dict], clock=None, ends_at: float | None = None) -> None:
        self.events, self.clock, self.ends_at = events, clock, ends_at
        self.calls = {"get_execution_history": 0, "describe_execution": 0}

    def get_execution_history(self, executionArn, reverseOrder, maxResults):
        assert reverseOrder and maxResults <= 25          # the newest events only
        self.calls["get_execution_history"] += 1
        if self.ends_at is not None and self.clock() >= self.ends_at:
            return {"events": [{"id": 99, "type": "ExecutionSucceeded", "timestamp": ENTERED}] + self.events}
        return {"events": list(self.events)}

    def describe_execution(self, executionArn):
        self.calls["describe_execution"] += 1
        return {"executionArn": executionArn, "status": "SUCCEEDED", "output": "{}"}


@pytest.mark.parametrize("events, line", [
    ([entered("RequestReview")],
     "waiting for a human decision: notified alice, bob; decide by 2026-11-29 10:00 UTC or the action is refused"),
    ([entered("RequestReview", {"index": 0, "reviewers": ["alice"], "last": False}, {"human_review": 800})],
     "waiting for a human decision: notified alice; decide by 2026-11-29 09:13 UTC or the review escalates to the "
     "next tier"),
    ([entered("RequestReview", {"index": 1, "reviewers": ["bob", "carol"], "last": True}, {"human_review": 900})],
     "escalated to tier 2: notified bob, carol; decide by 2026-11-29 09:15 UTC or the action is refused"),
    ([entered("VetoWindow")], "veto window: the action goes ahead at 2026-11-29 09:10 UTC unless alice, bob veto it"),
    ([entered("SignOff")], "done, awaiting sign-off: alice, bob decide by 2026-11-29 11:00 UTC or it is refused"),
    ([entered("ReverseWindow")], "done first: alice, bob may reverse it until 2026-11-29 09:15 UTC"),
    ([entered("Prepare")], "running: validating and routing the proposal"),
    ([entered("RunAction")], "running the approved action (its executor)"),
    ([entered("Conclude")], "recording the verdict"),
], ids=["review", "tier-1", "tier-2", "veto", "sign-off", "post-hoc", "routing", "executing", "concluding"])
def test_each_kind_of_wait_is_named_with_its_reviewers_and_deadline(events, line):
    assert follow.progress(History(events), "arn").describe() == line


def test_the_newest_entered_state_is_the_one_that_counts():
    newest_first = [{"id": 12, "type": "TaskSubmitted", "timestamp": ENTERED},
                    entered("RequestReview", {"index": 1, "reviewers": ["bob"], "last": True}, event_id=11),
                    entered("RequestReview", event_id=3)]
    assert follow.progress(History(newest_first), "arn").waiting_on == ("bob",)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert 0 < seconds <= AWS_PACE.cap
        self.now += seconds


def test_a_48_hour_wait_makes_about_6400_calls_as_the_readme_says():
    random.seed(7)
    clock = Clock()
    sfn = History([entered("RequestReview")], clock, ends_at=48 * 3600)
    lines: list[Progress] = []
    follow.wait(sfn, "arn", lines.append, AWS_PACE, sleep=clock.sleep, clock=clock)
    assert 6_300 <= sfn.calls["get_execution_history"] <= 6_500       # README: about 6,400 over 48 hours
    assert sfn.calls["describe_execution"] == 1                        # once, for the verdict
    assert len(lines) == 1                                             # a changed state is said once


def test_a_ci_log_gets_a_heartbeat_at_the_interval_and_a_terminal_does_not():
    clock = Clock()
    sfn = History([entered("RequestReview")], clock, ends_at=3600)
    beats: list[float] = []
    follow.wait(sfn, "arn", lambda p: None, AWS_PACE, heartbeat=600, on_heartbeat=lambda p, waited: beats.append(waited),
                sleep=clock.sleep, clock=clock)
    gaps = [b - a for a, b in zip([0.0] + beats, beats)]
    assert len(beats) == 5 and all(600 <= gap < 600 + AWS_PACE.cap for gap in gaps)   # never silent for long
    quiet: list[float] = []
    follow.wait(History([entered("RequestReview")], clock, ends_at=clock.now + 3600), "arn", lambda p: None, AWS_PACE,
                heartbeat=None, on_heartbeat=lambda p, waited: quiet.append(waited), sleep=clock.sleep, clock=clock)
    assert quiet == []
