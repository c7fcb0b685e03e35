"""Following an execution to its verdict: what it waits on, polled gently, with a heartbeat.

One ``GetExecutionHistory`` call per poll (newest events first) says both whether the execution
has ended and what it waits on; ``DescribeExecution`` is called once, for the verdict. Polls back
off from ``Pace.base`` to ``Pace.cap`` with jitter, and start fast again when the state changes.
``wall_clock`` bounds a whole command (a SIGALRM alarm); ``Stopped`` is SIGTERM, raised.
"""
from __future__ import annotations

import json
import random
import signal
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

GATES = {"RequestReview": "human_review", "VetoWindow": "veto_window", "SignOff": "post_execution",
         "ReverseWindow": "post_hoc"}     # the workflow's waiting states and the routes they wait for
BUSY = {"Prepare": "routing", "Route": "routing", "RunAction": "executing", "ExecuteFirst": "executing",
        "Stage": "executing"}             # any other state: recording the verdict
ENDED = {"ExecutionSucceeded": "SUCCEEDED", "ExecutionFailed": "FAILED", "ExecutionTimedOut": "TIMED_OUT",
         "ExecutionAborted": "ABORTED"}


@dataclass(frozen=True)
class Progress:
    status: str                     # RUNNING, or how the execution ended
    kind: str = "routing"           # a GATES route, routing, executing or concluding
    waiting_on: tuple[str, ...] = ()
    deadline: str | None = None
    tier: int = 0
    last_tier: bool = True

    def describe(self) -> str:
        """One line for a person or a CI log."""
        who, by = ", ".join(self.waiting_on) or "nobody", self.deadline
        if self.kind == "human_review":
            then = "the action is refused" if self.last_tier else "the review escalates to the next tier"
            head = "waiting for a human decision" if not self.tier else f"escalated to tier {self.tier + 1}"
            return f"{head}: notified {who}; decide by {by} or {then}"
        return {"veto_window": f"veto window: the action goes ahead at {by} unless {who} veto it",
                "post_execution": f"done, awaiting sign-off: {who} decide by {by} or it is refused",
                "post_hoc": f"done first: {who} may reverse it until {by}",
                "routing": "running: validating and routing the proposal",
                "executing": "running the approved action (its executor)",
                }.get(self.kind, "recording the verdict")


def progress(sfn: Any, arn: str) -> Progress:
    """What the execution is doing, from its history (never from task parameters: they hold the token)."""
    events = sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=25)["events"]
    for event in events:
        if event["type"] in ENDED:
            return Progress(ENDED[event["type"]], "ended")
        details = event.get("stateEnteredEventDetails")
        if not details:
            continue
        name = details.get("name")
        if name not in GATES:
            return Progress("RUNNING", BUSY.get(name, "concluding"))
        state = json.loads(details.get("input") or "{}")
        tier = state.get("current_tier", {})
        entered = event["timestamp"] if isinstance(event["timestamp"], datetime) else datetime.now(timezone.utc)
        window = int(state.get("windows", {}).get(GATES[name], 0))      # the gate's own timer
        deadline = (entered + timedelta(seconds=window)).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        return Progress("RUNNING", GATES[name], tuple(tier.get("reviewers", [])), deadline,
                        int(tier.get("index", 0)), bool(tier.get("last", True)))
    return Progress("RUNNING")


@dataclass(frozen=True)
class Pace:
    """Seconds between polls: from ``base``, ×1.5 per unchanged poll, up to ``cap``; each sleep is
    drawn from [0.8, 1] of the interval, so many waiting pipelines do not poll in step."""
    base: float = 1.0
    cap: float = 30.0

    def interval(self, unchanged: int) -> float:
        return min(self.cap, self.base * 1.5 ** min(unchanged, 30))

    def sleep_for(self, unchanged: int) -> float:
        return self.interval(unchanged) * random.uniform(0.8, 1.0)


AWS_PACE, SANDBOX_PACE = Pace(1.0, 30.0), Pace(0.2, 2.0)


def pace_for(endpoint: str | None) -> Pace:
    """The sandbox's pace for a loopback endpoint, AWS's otherwise."""
    from urllib.parse import urlsplit

    local = bool(endpoint) and urlsplit(endpoint).hostname in ("127.0.0.1", "localhost", "::1")
    return SANDBOX_PACE if local else AWS_PACE


def wait(sfn: Any, arn: str, on_progress: Callable[[Progress], None], pace: Pace = AWS_PACE,
         heartbeat: float | None = None, on_heartbeat: Callable[[Progress, float], None] | None = None,
         sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Block until the execution ends; return its description. A bound on the whole wait is the
    caller's (the CLI's ``--timeout`` is a wall-clock alarm, so no call can outlast it)."""
    started = said = clock()
    last, unchanged = None, 0
    while True:
        now = progress(sfn, arn)
        if now.status != "RUNNING":
            return sfn.describe_execution(executionArn=arn)
        if now != last:
            on_progress(now)
            last, unchanged, said = now, 0, clock()
        else:
            unchanged += 1
            if heartbeat and on_heartbeat and clock() - said >= heartbeat:
                on_heartbeat(now, clock() - started)
                said = clock()
        sleep(pace.sleep_for(unchanged))


class Interrupted(Exception):
    """A bounded wait (``bounded_sleep``) ended before the verdict: ``reason`` is ``max_wait`` or
    ``cancelled``. The execution goes on; nothing was decided by ending the wait."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def bounded_sleep(stop: Any, until: float, clock: Callable[[], float] = time.monotonic) -> Callable[[float], None]:
    """A ``sleep`` for ``wait`` that ends it: ``Interrupted("cancelled")`` as soon as ``stop`` (a
    ``threading.Event``) is set, ``Interrupted("max_wait")`` when ``clock()`` reaches ``until``."""
    def sleep(seconds: float) -> None:
        left = until - clock()
        if stop.wait(max(0.0, min(seconds, left))):
            raise Interrupted("cancelled")
        if clock() >= until:
            raise Interrupted("max_wait")
    return sleep


class Stopped(BaseException):
    """SIGTERM, as KeyboardInterrupt is SIGINT: the CLI says how to come back before it exits.
    (A BaseException, like KeyboardInterrupt, so botocore's handlers do not wrap it.)"""


class OutOfTime(BaseException):
    """--timeout passed: a wall-clock alarm, so no call, connect or read can outlast it."""


def raising(kind: type[BaseException]):
    """A signal handler that raises ``kind`` wherever the program is."""
    def handler(signum, frame):
        raise kind()
    return handler


class wall_clock:
    """Raise OutOfTime after ``seconds`` of wall-clock time, wherever the command is (None: never)."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        if self.seconds is not None:
            self.previous = signal.signal(signal.SIGALRM, raising(OutOfTime))
            signal.setitimer(signal.ITIMER_REAL, max(self.seconds, 0.001))

    def __exit__(self, *exc: Any) -> None:
        if self.seconds is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
