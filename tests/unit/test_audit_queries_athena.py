"""The Athena runner sends each named query's own SQL to the stack's workgroup and database, and
turns Athena's all-text result set into typed rows shaped like the DuckDB run's."""
from __future__ import annotations

import boto3
import requests
from moto import mock_aws

from countersign.evidence.audit_queries import QUERIES, run_athena


@mock_aws
def test_each_named_query_runs_in_the_workgroup_and_its_rows_are_typed():
    athena = boto3.client("athena", region_name="us-east-1")
    athena.create_work_group(Name="countersign-test-audit", Configuration={
        "ResultConfiguration": {"OutputLocation": "s3://results/"}})
    header = {"Data": [{"VarCharValue": "action_type"}, {"VarCharValue": "decisions"},
                       {"VarCharValue": "overrides"}, {"VarCharValue": "override_rate"}]}
    row = {"Data": [{"VarCharValue": "refund.issue"}, {"VarCharValue": "3"}, {"VarCharValue": "2"},
                    {"VarCharValue": "0.6667"}]}
    columns = [{"Name": "action_type", "Type": "varchar"}, {"Name": "decisions", "Type": "bigint"},
               {"Name": "overrides", "Type": "bigint"}, {"Name": "override_rate", "Type": "double"}]
    requests.post("http://motoapi.amazonaws.com/moto-api/static/athena/query-results", json={
        "account_id": "123456789012", "region": "us-east-1",
        "results": [{"rows": [header, row], "column_info": columns}]})
    answers = run_athena(athena, "countersign-test-audit", "countersign_test_audit", ["override_rate"],
                         sleep=lambda s: None)
    assert answers == {"override_rate": [{"action_type": "refund.issue", "decisions": 3, "overrides": 2,
                                          "override_rate": 0.6667}]}
    [execution] = athena.list_query_executions(WorkGroup="countersign-test-audit")["QueryExecutionIds"]
    sent = athena.get_query_execution(QueryExecutionId=execution)["QueryExecution"]
    assert sent["Query"] == QUERIES["override_rate"][1]
    assert sent["QueryExecutionContext"]["Database"] == "countersign_test_audit"


@mock_aws
def test_the_decision_history_query_comes_back_typed_booleans_and_nulls_included():
    athena = boto3.client("athena", region_name="us-east-1")
    athena.create_work_group(Name="countersign-test-history", Configuration={
        "ResultConfiguration": {"OutputLocation": "s3://results/"}})
    names = [("review_id", "varchar"), ("confidence", "double"), ("modified", "boolean"), ("canary", "boolean"),
             ("caught", "boolean"), ("dwell_seconds", "double")]
    header = {"Data": [{"VarCharValue": n} for n, _ in names]}
    row = {"Data": [{"VarCharValue": "rv-1"}, {"VarCharValue": "0.72"}, {"VarCharValue": "true"},
                    {"VarCharValue": "false"}, {}, {"VarCharValue": "4.5"}]}
    requests.post("http://motoapi.amazonaws.com/moto-api/static/athena/query-results", json={
        "account_id": "123456789012", "region": "us-east-1",
        "results": [{"rows": [header, row], "column_info": [{"Name": n, "Type": t} for n, t in names]}]})
    answers = run_athena(athena, "countersign-test-history", "countersign_test_audit", ["decisions"], sleep=lambda s: None)
    assert answers == {"decisions": [{"review_id": "rv-1", "confidence": 0.72, "modified": True, "canary": False,
                                      "caught": None, "dwell_seconds": 4.5}]}
