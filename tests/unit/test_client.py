"""The CLI's AWS session: the sandbox needs no AWS configuration, a user's own credentials are never
replaced, and a machine with no credentials at all is told so in one line."""
from __future__ import annotations

import json

import pytest

from countersign.cli import commands as cli
from countersign.cli.client import SANDBOX_CREDENTIALS, session_for


@pytest.fixture
def no_aws_configuration(monkeypatch, tmp_path):
    import os

    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))               # no ~/.aws
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # this test machine is no EC2 instance: stay offline


def test_against_a_sandbox_with_no_configuration_the_sandbox_credentials_and_region_are_used(no_aws_configuration):
    session = session_for("http://127.0.0.1:5000", None)
    assert session.get_credentials().access_key == SANDBOX_CREDENTIALS["aws_access_key_id"]
    assert session.region_name == "us-east-1"


def test_a_users_own_credentials_are_never_replaced(no_aws_configuration, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALUSER")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    session = session_for("http://127.0.0.1:5000", None)
    assert session.get_credentials().access_key == "AKIAREALUSER" and session.region_name == "eu-west-1"
    assert session_for(None, None).get_credentials().access_key == "AKIAREALUSER"


def test_no_credentials_at_all_is_one_line_with_advice(no_aws_configuration, capsys):
    assert cli.main(["status", "x", "--region", "eu-west-1"]) == 1
    assert capsys.readouterr().err.strip() == (
        "error: no AWS credentials found: configure them (aws configure, AWS_PROFILE or AWS_* variables), "
        "or pass --endpoint to use the local sandbox")


def test_an_unreachable_endpoint_and_an_unreachable_aws_are_told_apart_from_a_missing_sandbox():
    from botocore.exceptions import EndpointConnectionError

    from countersign.cli.client import _cannot_read

    down = EndpointConnectionError(endpoint_url="https://aws.internal.example:4566/")
    assert str(_cannot_read("S", "https://aws.internal.example:4566", "us-east-1", down)) == (
        "cannot reach https://aws.internal.example:4566: check the address and your network")
    assert str(_cannot_read("S", None, "eu-west-1", down)) == "cannot reach AWS: check the address and your network"
    assert str(_cannot_read("S", "http://localhost:5000", "us-east-1", down)).startswith(
        "no sandbox is running at http://localhost:5000")


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("30m", 1800), ("48h", 172800), ("2d", 172800),
                                           ("1.5h", 5400), ("0", 0)])
def test_durations_read_as_a_person_writes_them(text, seconds):
    assert cli.duration(text) == seconds


@pytest.mark.parametrize("argv", [["submit", "p.json", "--wait", "--timeout", "nan"],
                                  ["submit", "p.json", "--wait", "--timeout", "-5"],
                                  ["submit", "p.json", "--wait", "--timeout", "1 hour"],
                                  ["submit", "p.json", "--timeout", "1h"],             # a timeout needs --wait
                                  ["submit", "p.json", "--wiat"], ["approve", "x"], []])
def test_usage_errors_exit_64_never_a_verdicts_code(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 64
    assert capsys.readouterr().out == ""


def test_a_usage_error_under_json_is_one_json_document(capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["status", "x", "--json", "--bogus"])
    assert stopped.value.code == 64
    document = json.loads(capsys.readouterr().out)
    assert document["outcome"] == "usage_error" and document["executionArn"] is None and "--bogus" in document["error"]


def test_the_exit_code_table_is_in_the_help_and_no_two_meanings_share_a_code(capsys):
    from countersign.cli import client

    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert client.EXIT_TABLE in capsys.readouterr().out
    codes = [int(line.split()[0]) for line in client.EXIT_TABLE.splitlines()[1:]]
    assert len(codes) == len(set(codes)) == 9
    assert {o: c for o, c in client.EXIT.items() if c == 0} == {"approved": 0, "auto_approved": 0}
    assert client.EXIT["modified"] not in (0, client.EXIT["approved"]) and client.EXIT["halted"] != client.EXIT["rejected"]
    assert client.EXIT["pending"] != client.EXIT["expired"]


def test_local_refuses_a_malformed_context_override_as_a_usage_error():
    with pytest.raises(SystemExit) as stopped:
        cli.main(["local", "-c", "foo"])
    assert stopped.value.code == 64


def test_local_refuses_a_port_in_use_in_one_line_before_deploying_anything(capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["local", "--aws-port", str(port)]) == 1
    assert capsys.readouterr().err.strip() == (f"error: port {port} on 127.0.0.1 is in use (another sandbox?): "
                                               "stop it, or pass --aws-port with a free port")


def deep(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"x": value}
    return value


@pytest.mark.parametrize("raw, message", [
    (b'{"schema_version": "1", "action": {"summary": "caf\xe9"}}', "not UTF-8 text"),
    (b"[" * 5000 + b"]" * 5000, "nested too deeply to read"),
])
def test_unreadable_input_exits_4_and_starts_nothing(tmp_path, capsys, raw, message):
    path = tmp_path / "p.json"
    path.write_bytes(raw)
    assert cli.main(["submit", str(path), "--json", "--endpoint", "http://127.0.0.1:9"]) == 4
    document = json.loads(capsys.readouterr().out)
    assert document["outcome"] == "invalid" and message in document["errors"][0]["message"]


@pytest.mark.parametrize("parameters, path, message", [
    (deep(900), "$.action.parameters.x.x.x", "nested deeper than 32 levels"),
    ({"blob": "x" * 300_000}, "$", "the limit is 131,072"),
])
def test_a_proposal_the_workflow_could_not_carry_is_refused_before_it_starts(tmp_path, capsys, parameters, path,
                                                                          message):
    proposal = {"schema_version": "1", "confidence": 0.5,
                "action": {"type": "refund.issue", "summary": "x", "parameters": parameters}}
    file = tmp_path / "p.json"
    file.write_text(json.dumps(proposal))
    assert cli.main(["submit", str(file), "--json", "--endpoint", "http://127.0.0.1:9"]) == 4
    [error] = json.loads(capsys.readouterr().out)["errors"]
    assert error["path"].startswith(path) and message in error["message"]
