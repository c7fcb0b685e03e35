"""The trail's figures for the evidence pack: pure functions over parsed audit records.

Each function takes the records (dicts, as ``audit.append`` wrote them) and returns plain data,
so another path to the same numbers (Athena, DuckDB) can be checked against these. Text that
came from a proposal or a reviewer (action types, summaries, rationales, reasons) is cut to a
bounded length here, before it reaches any page or file.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from datetime import datetime
from typing import Any, Iterable

from countersign.evidence import digests

CLOSING = ("verdict_issued", "auto_approved", "expired")       # one per execution: its outcome
OVERRIDES = ("modified", "rejected")
# time to decision: upper bounds of the histogram's bins, in seconds (the last bin is open)
BINS = ((10, "< 10 s"), (60, "10 s – 1 min"), (300, "1 – 5 min"), (900, "5 – 15 min"), (3600, "15 min – 1 h"),
        (14400, "1 – 4 h"), (86400, "4 – 24 h"), (None, "≥ 24 h"))
LIMITS = {"action_type": 64, "summary": 160, "rationale": 300, "reason": 160, "actor": 160}


def bounded(value: Any, kind: str) -> str:
    """Untrusted text as one line of at most ``LIMITS[kind]`` characters."""
    text = " ".join(str("" if value is None else value).split())
    limit = LIMITS[kind]
    return text if len(text) <= limit else text[:limit - 1] + "…"


def records_of(objects: Iterable[Any]) -> list[dict[str, Any]]:
    """The trail's records (not digests) from stored objects (``verify.Stored``); an object that
    is not a JSON record is skipped here (``audit verify`` reports it)."""
    found = []
    for stored in objects:
        if stored.key.startswith(digests.PREFIX) or digests.stream_of(stored.key) is None:
            continue
        try:
            record = json.loads(stored.body)
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(record, dict):
            found.append(record)
    return sorted(found, key=lambda r: (str(r.get("recorded_at")), str(r.get("stream")), r.get("seq") or 0))


def _time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def _type(record: dict[str, Any]) -> str:
    return bounded(record.get("action_type") or "(none)", "action_type")


def decisions(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Executions by action type, outcome and route, from each execution's closing record."""
    counted = Counter((_type(r), str(r.get("outcome")), str(r.get("route"))) for r in records
                      if r.get("event") in CLOSING)
    return [{"action_type": t, "outcome": o, "route": rt, "count": n} for (t, o, rt), n in sorted(counted.items())]


def totals(rows: list[dict[str, Any]], *by: str) -> list[dict[str, Any]]:
    """``rows`` (with a ``count``) summed over every field but ``by``."""
    counted: Counter = Counter()
    for row in rows:
        counted[tuple(row[k] for k in by)] += row["count"]
    return [{**dict(zip(by, key)), "count": n} for key, n in sorted(counted.items())]


def overrides(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per action type: human decisions (``decision_recorded``), how many modified or rejected
    the proposal (a veto or a reverse is a rejection), and that share."""
    table: dict[str, Counter] = {}
    for r in records:
        if r.get("event") == "decision_recorded":
            counts = table.setdefault(_type(r), Counter())
            counts["decisions"] += 1
            counts[r.get("decision")] += 1
    return [{"action_type": t, "decisions": c["decisions"], "modified": c["modified"], "rejected": c["rejected"],
             "rate": (c["modified"] + c["rejected"]) / c["decisions"]} for t, c in sorted(table.items())]


def times_to_decision(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per decided review: seconds from ``review_requested`` to the decision (its ``decided_at``,
    else when it was recorded). A review with no decision (expired, escalated) has none; a
    decision clicked before the request's record was written (the emails go first) counts as 0."""
    requested = {r.get("review_id"): _time(r.get("recorded_at")) for r in records if r.get("event") == "review_requested"}
    found = []
    for r in records:
        start = requested.get(r.get("review_id")) if r.get("event") == "decision_recorded" else None
        end = _time(r.get("decided_at") or r.get("recorded_at"))
        if start and end:
            found.append({"review_id": r["review_id"], "action_type": _type(r),
                          "seconds": max(0.0, (end - start).total_seconds())})
    return found


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..1): the smallest value with at least ``q`` of them at
    or below it; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def histogram(values: list[float]) -> list[dict[str, Any]]:
    counts = [0] * len(BINS)
    for v in values:
        counts[next(i for i, (top, _) in enumerate(BINS) if top is None or v < top)] += 1
    return [{"bin": label, "count": n} for (_, label), n in zip(BINS, counts)]


def expiries(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Executions refused because nobody decided in time, and tier escalations, per action type."""
    expired = Counter(_type(r) for r in records if r.get("event") == "expired")
    escalated = Counter(_type(r) for r in records if r.get("event") == "escalated")
    return {"expired": sum(expired.values()), "escalations": sum(escalated.values()),
            "by_action_type": [{"action_type": t, "expired": expired[t], "escalations": escalated[t]}
                               for t in sorted(set(expired) | set(escalated))]}


def late_decisions(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Clicks that lost to the window's close (answered 409, not carried out)."""
    return [{"at": r.get("recorded_at"), "action_type": _type(r), "reviewer": bounded(r.get("reviewer"), "actor"),
             "decision": bounded(r.get("decision"), "reason"), "summary": bounded(r.get("action_summary"), "summary")}
            for r in records if r.get("event") == "late_decision"]


def refusal_reason(record: dict[str, Any]) -> str:
    if record.get("expected_route") == "halted":
        return "halted by the kill switch on intake"
    status = record.get("status")
    return bounded(f"{status}: {record.get('reason')}" if status else record.get("reason") or "(no reason)", "reason")


def refusals(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``refused_request`` records (invalid proposals, halts on intake, refused review requests) by reason."""
    counted = Counter(refusal_reason(r) for r in records if r.get("event") == "refused_request")
    return [{"reason": reason, "count": n} for reason, n in sorted(counted.items(), key=lambda i: (-i[1], i[0]))]


def kill_switch_flips(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"at": r.get("recorded_at"), "actor": bounded(r.get("actor"), "actor"), "from": bounded(r.get("from"), "reason"),
             "to": bounded(r.get("to"), "reason"), "reason": bounded(r.get("reason"), "reason")}
            for r in records if r.get("event") == "kill_switch_changed"]


def recent_overrides(records: list[dict[str, Any]], limit: int = 20) -> list[dict[str, Any]]:
    """The newest modifications and rejections, with their rationale (for a reader to sample)."""
    found = [{"at": r.get("decided_at") or r.get("recorded_at"), "action_type": _type(r),
              "decision": r.get("decision"), "reviewer": bounded(r.get("reviewer"), "actor"),
              "summary": bounded(r.get("action_summary"), "summary"), "rationale": bounded(r.get("rationale"), "rationale")}
             for r in records if r.get("event") == "decision_recorded" and r.get("decision") in OVERRIDES]
    return sorted(found, key=lambda o: str(o["at"]), reverse=True)[:limit]


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Every figure of the pack, JSON-ready. A canary's records (a known-bad copy sent to test a
    reviewer, in its own ``canaries/`` stream) are left out: they are not oversight of an action."""
    records = [r for r in records if not r.get("canary")]
    times = times_to_decision(records)
    seconds = [t["seconds"] for t in times]
    per_type: dict[str, list[float]] = {}
    for t in times:
        per_type.setdefault(t["action_type"], []).append(t["seconds"])
    decided = decisions(records)
    return {
        "records": len(records),
        "events": dict(sorted(Counter(str(r.get("event")) for r in records).items())),
        "decisions": {"by_outcome_and_route": totals(decided, "outcome", "route"),
                      "by_outcome": totals(decided, "outcome"), "by_action_type": decided},
        "overrides": overrides(records),
        "time_to_decision": {"reviews": len(seconds), "p50_seconds": percentile(seconds, 0.5),
                             "p90_seconds": percentile(seconds, 0.9), "histogram": histogram(seconds),
                             "by_action_type": [{"action_type": t, "reviews": len(v), "p50_seconds": percentile(v, 0.5),
                                                 "p90_seconds": percentile(v, 0.9)} for t, v in sorted(per_type.items())]},
        "expiries": expiries(records),
        "late_decisions": late_decisions(records),
        "refusals": refusals(records),
        "kill_switch_flips": kill_switch_flips(records),
        "recent_overrides": recent_overrides(records),
    }


def from_queries(results: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The same figures as ``summarise``, from the named queries' rows (``audit_queries``: Athena,
    or DuckDB over an export). Counts are exact; p50/p90 are the engine's (approximate on Athena)."""
    decided = [{"action_type": bounded(r["action_type"] or "(none)", "action_type"), "outcome": str(r["outcome"]),
                "route": str(r["route"]), "count": int(r["n"])} for r in results["decisions_by_outcome"]]
    events = {str(r["event"]): int(r["n"]) for r in results["events"]}
    overall = (results["time_to_decision_overall"] or [{}])[0]
    bins = {r["bin"]: int(r["n"]) for r in results["time_to_decision_histogram"]}
    expired = Counter({r["action_type"]: int(r["n"]) for r in results["expiries_and_escalations"] if r["event"] == "expired"})
    escalated = Counter({r["action_type"]: int(r["n"]) for r in results["expiries_and_escalations"]
                         if r["event"] == "escalated"})
    return {
        "records": sum(events.values()),
        "events": dict(sorted(events.items())),
        "decisions": {"by_outcome_and_route": totals(decided, "outcome", "route"),
                      "by_outcome": totals(decided, "outcome"), "by_action_type": decided},
        "overrides": [{"action_type": bounded(r["action_type"], "action_type"), "decisions": int(r["decisions"]),
                       "modified": int(r["modified"]), "rejected": int(r["rejected"]),
                       "rate": (int(r["modified"]) + int(r["rejected"])) / int(r["decisions"])}
                      for r in results["override_rate"]],
        "time_to_decision": {"reviews": int(overall.get("reviews") or 0), "p50_seconds": overall.get("p50_seconds"),
                             "p90_seconds": overall.get("p90_seconds"),
                             "histogram": [{"bin": label, "count": bins.get(label, 0)} for _, label in BINS],
                             "by_action_type": [{"action_type": bounded(r["action_type"], "action_type"),
                                                 "reviews": int(r["reviews"]), "p50_seconds": r["p50_seconds"],
                                                 "p90_seconds": r["p90_seconds"]} for r in results["time_to_decision"]]},
        "expiries": {"expired": sum(expired.values()), "escalations": sum(escalated.values()),
                     "by_action_type": [{"action_type": bounded(t, "action_type"), "expired": expired[t],
                                         "escalations": escalated[t]} for t in sorted(set(expired) | set(escalated))]},
        "late_decisions": [{"at": r["recorded_at"], "action_type": bounded(r["action_type"], "action_type"),
                            "reviewer": bounded(r["reviewer"], "actor"), "decision": bounded(r["decision"], "reason"),
                            "summary": bounded(r["action_summary"], "summary")} for r in results["late_decisions"]],
        "refusals": sorted(({"reason": bounded(r["reason"], "reason"), "count": int(r["n"])}
                            for r in results["refusals_by_reason"]), key=lambda i: (-i["count"], i["reason"])),
        "kill_switch_flips": [{"at": r["recorded_at"], "actor": bounded(r["actor"], "actor"),
                               "from": bounded(r["from"], "reason"), "to": bounded(r["to"], "reason"),
                               "reason": bounded(r["reason"], "reason")} for r in results["kill_switch_flips"]],
        "recent_overrides": [{"at": r["decided_time"], "action_type": bounded(r["action_type"], "action_type"),
                              "decision": r["decision"], "reviewer": bounded(r["reviewer"], "actor"),
                              "summary": bounded(r["action_summary"], "summary"),
                              "rationale": bounded(r["rationale"], "rationale")} for r in results["recent_overrides"]],
    }
