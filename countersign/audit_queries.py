"""The trail's questions as SQL, one definition for Athena (at scale) and DuckDB (an export).

The stack defines Glue tables over the audit bucket (``records`` over ``executions/``,
``refusals`` over ``refusals/``, partitioned by the date folder with partition projection) and
one Athena named query per question below. The same SQL runs on DuckDB over an export
(``run_local``), with two macros standing in for Trino's ``from_iso8601_timestamp`` and
``approx_percentile``; the tests assert both give what was put into the trail.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

# column → Athena (Glue/Hive) type; every column is a top-level field of a record (missing: NULL)
RECORD_COLUMNS = {
    "schema": "string", "event": "string", "event_key": "string", "stream": "string", "seq": "int",
    "hash": "string", "prev_hash": "string", "recorded_at": "string", "actor": "string", "review_id": "string",
    "action_type": "string", "confidence": "double", "route": "string", "outcome": "string", "mode": "string",
    "decision": "string", "reviewer": "string", "decided_by": "string", "reason": "string", "tier": "int",
}
REFUSAL_COLUMNS = {"event": "string", "stream": "string", "seq": "int", "hash": "string", "recorded_at": "string",
                   "actor": "string", "reason": "string", "status": "int"}
PARTITION = "day"            # yyyy/MM/dd, the date folder under the table's prefix
_DUCK = {"string": "VARCHAR", "int": "INTEGER", "double": "DOUBLE"}

QUERIES = {
    "decisions_by_outcome": (
        "Closing records by action type, outcome and route",
        "SELECT action_type, outcome, route, count(*) AS n FROM records "
        "WHERE event IN ('verdict_issued', 'auto_approved', 'expired') "
        "GROUP BY action_type, outcome, route ORDER BY action_type, outcome, route"),
    "override_rate": (
        "Human decisions, and how many modified or rejected the proposal, by action type",
        "SELECT action_type, count(*) AS decisions, "
        "sum(CASE WHEN decision IN ('modified', 'rejected') THEN 1 ELSE 0 END) AS overrides, "
        "round(1.0 * sum(CASE WHEN decision IN ('modified', 'rejected') THEN 1 ELSE 0 END) / count(*), 4) "
        "AS override_rate FROM records WHERE event = 'decision_recorded' GROUP BY action_type ORDER BY action_type"),
    "time_to_decision": (
        "Seconds from the review request to the decision (p50, p90), by action type",
        "SELECT r.action_type, count(*) AS decisions, "
        "approx_percentile(date_diff('second', from_iso8601_timestamp(r.recorded_at), "
        "from_iso8601_timestamp(d.recorded_at)), 0.5) AS p50_seconds, "
        "approx_percentile(date_diff('second', from_iso8601_timestamp(r.recorded_at), "
        "from_iso8601_timestamp(d.recorded_at)), 0.9) AS p90_seconds "
        "FROM records r JOIN records d ON d.review_id = r.review_id AND d.event = 'decision_recorded' "
        "WHERE r.event = 'review_requested' GROUP BY r.action_type ORDER BY r.action_type"),
    "expiries_and_late_decisions": (
        "Reviews nobody decided in time, and clicks that came after the deadline, by action type",
        "SELECT action_type, event, count(*) AS n FROM records WHERE event IN ('expired', 'late_decision') "
        "GROUP BY action_type, event ORDER BY action_type, event"),
    "refusals_by_reason": (
        "Refused proposals (Prepare) and refused requests (the review desk), by reason",
        "SELECT reason, count(*) AS n FROM (SELECT reason FROM records WHERE event = 'refused_request' "
        "UNION ALL SELECT reason FROM refusals) t GROUP BY reason ORDER BY reason"),
}


def table_of(key: str) -> str | None:
    return "records" if key.startswith("executions/") else "refusals" if key.startswith("refusals/") else None


def run_local(objects: Iterable[Any], names: Iterable[str] = QUERIES) -> dict[str, list[dict[str, Any]]]:
    """Run the named queries on DuckDB over exported objects (``verify.Stored``: key and body)."""
    import duckdb

    rows: dict[str, list[tuple]] = {"records": [], "refusals": []}
    columns = {"records": RECORD_COLUMNS, "refusals": REFUSAL_COLUMNS}
    for stored in objects:
        table = table_of(stored.key)
        if table:
            record = json.loads(stored.body)
            rows[table].append(tuple(record.get(c) for c in columns[table]) + ("/".join(stored.key.split("/")[1:4]),))
    db = duckdb.connect()
    db.execute("CREATE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)")
    db.execute("CREATE MACRO approx_percentile(x, p) AS quantile_cont(x, p)")
    for table, cols in columns.items():
        db.execute(f"CREATE TABLE {table} ({', '.join(f'{c} {_DUCK[t]}' for c, t in cols.items())}, {PARTITION} VARCHAR)")
        if rows[table]:
            db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * (len(cols) + 1))})", rows[table])
    results = {}
    for name in names:
        cursor = db.execute(QUERIES[name][1])
        fields = [d[0] for d in cursor.description]
        results[name] = [dict(zip(fields, row)) for row in cursor.fetchall()]
    return results


_CAST = {"integer": int, "bigint": int, "tinyint": int, "smallint": int, "double": float, "float": float,
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
