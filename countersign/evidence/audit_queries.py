"""The trail's questions as SQL, one definition for Athena (at scale) and DuckDB (an export).

The stack defines Glue tables over the audit bucket (``records`` over ``executions/``,
``refusals`` over ``refusals/``, ``kill_switch`` over ``kill-switch/``, ``canaries`` over
``canaries/``, ``autonomy`` over ``autonomy/``, partitioned by the date folder with partition projection) and one Athena named query per question below: together they
are every figure of the compliance pack's trail section (``compliance.figures.from_queries``). The same SQL runs on DuckDB over an export
(``run_local``), with two macros standing in for Trino's ``from_iso8601_timestamp`` and
``approx_percentile``; the tests assert both give what was put into the trail.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

from countersign.evidence import digests, history
from countersign.evidence.compliance.figures import BINS      # the evidence pack's histogram bins
from countersign.rules.routing import ROUTE_OF_MODE

# column → Athena (Glue/Hive) type; every column is a top-level field of a record (missing: NULL)
RECORD_COLUMNS = {
    "schema": "string", "event": "string", "event_key": "string", "stream": "string", "seq": "int",
    "hash": "string", "prev_hash": "string", "recorded_at": "string", "actor": "string", "review_id": "string",
    "action_type": "string", "action_summary": "string", "confidence": "double", "route": "string",
    "expected_route": "string", "outcome": "string", "mode": "string", "decision": "string", "reviewer": "string",
    "decided_at": "string", "rationale": "string", "decided_by": "string", "reason": "string", "tier": "int",
    "execution": "struct<arn:string>", "facts": "struct<risk:string,spot_check:boolean>",
    "policy": "struct<version:string>", "dwell_seconds": "double", "canary": "string", "caught": "boolean",
}
REFUSAL_COLUMNS = {"event": "string", "stream": "string", "seq": "int", "hash": "string", "recorded_at": "string",
                   "actor": "string", "reason": "string", "status": "int"}
KILL_SWITCH_COLUMNS = {"event": "string", "stream": "string", "seq": "int", "hash": "string", "recorded_at": "string",
                       "actor": "string", "from": "string", "to": "string", "reason": "string"}
AUTONOMY_COLUMNS = {"event": "string", "stream": "string", "seq": "int", "hash": "string", "recorded_at": "string",
                    "actor": "string", "target": "string", "kind": "string", "decided_by": "string"}
TABLES = {"records": ("executions", RECORD_COLUMNS), "refusals": ("refusals", REFUSAL_COLUMNS),
          "kill_switch": ("kill-switch", KILL_SWITCH_COLUMNS),
          "canaries": ("canaries", RECORD_COLUMNS),
          "autonomy": ("autonomy", AUTONOMY_COLUMNS)}     # table → (prefix, columns)
PARTITION = "day"            # yyyy/MM/dd, the date folder under the table's prefix
_DUCK = {"string": "VARCHAR", "int": "INTEGER", "double": "DOUBLE", "boolean": "BOOLEAN"}
_SECONDS = ("greatest(0, date_diff('millisecond', from_iso8601_timestamp(r.recorded_at), "
            "from_iso8601_timestamp(coalesce(d.decided_at, d.recorded_at))) / 1000.0)")
_DECIDED = ("FROM records r JOIN records d ON d.review_id = r.review_id AND d.event = 'decision_recorded' "
            "WHERE r.event = 'review_requested'")

_ROUTE = ("CASE r.mode " + " ".join(f"WHEN '{m}' THEN '{r}'" for m, r in ROUTE_OF_MODE.items())
          + " ELSE r.route END")
_CANARY = f"coalesce(r.canary NOT IN ({', '.join(repr(v) for v in history.FALSY_JSON)}), false)"

QUERIES = {
    "events": (
        "Records by event, across executions, refusals, kill-switch flips and autonomy changes",
        "SELECT event, count(*) AS n FROM (SELECT event FROM records UNION ALL SELECT event FROM refusals "
        "UNION ALL SELECT event FROM kill_switch UNION ALL SELECT event FROM autonomy) t GROUP BY event ORDER BY event"),
    "decisions_by_outcome": (
        "Closing records by action type, outcome and route",
        "SELECT action_type, outcome, route, count(*) AS n FROM records "
        "WHERE event IN ('verdict_issued', 'auto_approved', 'expired') "
        "GROUP BY action_type, outcome, route ORDER BY action_type, outcome, route"),
    "override_rate": (
        "Human decisions, and how many modified or rejected the proposal (a veto or a reverse is a rejection)",
        "SELECT action_type, count(*) AS decisions, "
        "sum(CASE WHEN decision = 'modified' THEN 1 ELSE 0 END) AS modified, "
        "sum(CASE WHEN decision = 'rejected' THEN 1 ELSE 0 END) AS rejected, "
        "round(1.0 * sum(CASE WHEN decision IN ('modified', 'rejected') THEN 1 ELSE 0 END) / count(*), 4) "
        "AS override_rate FROM records WHERE event = 'decision_recorded' GROUP BY action_type ORDER BY action_type"),
    "time_to_decision": (
        "Seconds from the review request to the decision (approximate p50, p90), by action type",
        f"SELECT r.action_type, count(*) AS reviews, approx_percentile({_SECONDS}, 0.5) AS p50_seconds, "
        f"approx_percentile({_SECONDS}, 0.9) AS p90_seconds {_DECIDED} GROUP BY r.action_type ORDER BY r.action_type"),
    "time_to_decision_overall": (
        "Seconds from the review request to the decision (approximate p50, p90), every review",
        f"SELECT count(*) AS reviews, approx_percentile({_SECONDS}, 0.5) AS p50_seconds, "
        f"approx_percentile({_SECONDS}, 0.9) AS p90_seconds {_DECIDED}"),
    "time_to_decision_histogram": (
        "Decided reviews by time to decision",
        "SELECT bin, count(*) AS n FROM (SELECT CASE "
        + " ".join(f"WHEN {_SECONDS} < {top} THEN '{label}'" for top, label in BINS if top)
        + f" ELSE '{BINS[-1][1]}' END AS bin {_DECIDED}) t GROUP BY bin"),
    "expiries_and_escalations": (
        "Reviews nobody decided in time, and tier escalations, by action type",
        "SELECT action_type, event, count(*) AS n FROM records WHERE event IN ('expired', 'escalated') "
        "GROUP BY action_type, event ORDER BY action_type, event"),
    "late_decisions": (
        "Clicks that came after the window closed (answered 409, not carried out)",
        "SELECT recorded_at, action_type, reviewer, decision, action_summary FROM records "
        "WHERE event = 'late_decision' ORDER BY recorded_at LIMIT 1000"),
    "refusals_by_reason": (
        "Refused proposals (Prepare), halts on intake and refused requests (the review desk), by reason",
        "SELECT reason, count(*) AS n FROM (SELECT CASE WHEN expected_route = 'halted' THEN "
        "'halted by the kill switch on intake' ELSE coalesce(reason, '(no reason)') END AS reason FROM records "
        "WHERE event = 'refused_request' UNION ALL SELECT CASE WHEN status IS NOT NULL THEN "
        "cast(status AS varchar) || ': ' || coalesce(reason, '') ELSE coalesce(reason, '(no reason)') END "
        "FROM refusals WHERE event = 'refused_request') t GROUP BY reason ORDER BY n DESC, reason"),
    "kill_switch_flips": (
        "Every kill-switch flip: who, from, to, why",
        'SELECT recorded_at, actor, "from", "to", reason FROM kill_switch ORDER BY recorded_at'),
    "recent_overrides": (
        "The newest modifications and rejections, with their rationale",
        "SELECT coalesce(decided_at, recorded_at) AS decided_time, action_type, decision, reviewer, action_summary, rationale "
        "FROM records WHERE event = 'decision_recorded' AND decision IN ('modified', 'rejected') "
        "ORDER BY decided_time DESC LIMIT 20"),
    "decisions": (
        "Every human decision, one row each: the history the calibrator and the vigilance watch read",
        "SELECT r.review_id, r.execution.arn AS execution, r.action_type, r.confidence, r.decision AS outcome, "
        "r.decision = 'modified' AS modified, r.reason, r.reviewer, r.dwell_seconds, "
        f"coalesce(r.facts.spot_check, false) AS spot_check, {_CANARY} AS canary, "
        f"CASE WHEN {_CANARY} THEN coalesce(r.caught, r.decision IN ('modified', 'rejected')) END AS caught, "
        "r.decided_at, r.policy.version AS policy_version, r.facts.risk AS risk, "
        f"{_ROUTE} AS route, r.mode "
        "FROM (SELECT * FROM records UNION ALL SELECT * FROM canaries) r WHERE r.event = 'decision_recorded' "
        "ORDER BY r.decided_at, r.review_id"),
}


def table_of(key: str) -> str | None:
    return next((table for table, (prefix, _) in TABLES.items() if key.startswith(prefix + "/")), None)


def run_local(objects: Iterable[Any], names: Iterable[str] = QUERIES) -> dict[str, list[dict[str, Any]]]:
    """Run the named queries on DuckDB over exported objects (``verify.Stored``: key and body)."""
    import duckdb

    rows: dict[str, list[tuple]] = {table: [] for table in TABLES}
    for stored in objects:
        table = table_of(stored.key)
        if table and digests.stream_of(stored.key):
            record = json.loads(stored.body)
            rows[table].append(tuple(_as_serde(record.get(c), t) for c, t in TABLES[table][1].items())
                               + ("/".join(stored.key.split("/")[1:4]),))
    db = duckdb.connect()
    db.execute("CREATE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)")
    db.execute("CREATE MACRO approx_percentile(x, p) AS quantile_cont(x, p)")
    for table, (_, cols) in TABLES.items():
        columns = ", ".join(f'"{c}" {_duck_type(t)}' for c, t in cols.items())
        db.execute(f"CREATE TABLE {table} ({columns}, {PARTITION} VARCHAR)")
        if rows[table]:
            db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * (len(cols) + 1))})", rows[table])
    results = {}
    for name in names:
        cursor = db.execute(QUERIES[name][1])
        fields = [d[0] for d in cursor.description]
        results[name] = [dict(zip(fields, row)) for row in cursor.fetchall()]
    return results


def _fields(glue_type: str) -> list[tuple[str, str]]:
    """The members of a ``struct<name:type,...>`` column (one level deep)."""
    return [tuple(part.split(":")) for part in glue_type[len("struct<"):-1].split(",")]


def _duck_type(glue_type: str) -> str:
    if glue_type.startswith("struct<"):
        return "STRUCT(" + ", ".join(f'"{n}" {_DUCK[t]}' for n, t in _fields(glue_type)) + ")"
    return _DUCK[glue_type]


def _as_serde(value: Any, glue_type: str) -> Any:
    """A record's member as Athena's JSON SerDe reads it into the column: a struct keeps its
    declared members, a string column holds any other JSON value as its text."""
    if glue_type.startswith("struct<"):
        return {n: value.get(n) for n, _ in _fields(glue_type)} if isinstance(value, dict) else None
    if glue_type == "string" and value is not None and not isinstance(value, str):
        return json.dumps(value, separators=(",", ":"))
    return value


_CAST = {"boolean": lambda v: v == "true", "integer": int, "bigint": int, "tinyint": int, "smallint": int, "double": float, "float": float,
         "decimal": float, "real": float}


def run_athena(athena: Any, workgroup: str, database: str, names: Iterable[str] = QUERIES,
               poll: float = 1.0, sleep: Any = None) -> dict[str, list[dict[str, Any]]]:
    """Run the named queries on Athena (the stack's workgroup and database); rows typed by the
    result's column metadata, in the same shape ``run_local`` gives."""
    import time

    sleep = sleep or time.sleep
    results = {}
    for name in names:
        started = athena.start_query_execution(QueryString=QUERIES[name][1], WorkGroup=workgroup,
                                               QueryExecutionContext={"Database": database})["QueryExecutionId"]
        while True:
            state = athena.get_query_execution(QueryExecutionId=started)["QueryExecution"]["Status"]
            if state["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
            sleep(poll)
        if state["State"] != "SUCCEEDED":
            raise RuntimeError(f"Athena query {name} {state['State'].lower()}: {state.get('StateChangeReason', '')}")
        rows: list[dict[str, Any]] = []
        for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=started):
            info = page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
            for row in page["ResultSet"]["Rows"]:
                values = [cell.get("VarCharValue") for cell in row["Data"]]
                if values == [c["Name"] for c in info]:
                    continue                                  # Athena repeats the header as the first row
                rows.append({c["Name"]: None if v is None else _CAST.get(c["Type"], str)(v)
                             for c, v in zip(info, values)})
        results[name] = rows
    return results
