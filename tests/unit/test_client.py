"""The CLI's AWS session: the sandbox needs no AWS configuration, a user's own credentials are never
replaced, and a machine with no credentials at all is told so in one line."""
from __future__ import annotations

import pytest

from countersign import cli
from countersign.client import SANDBOX_CREDENTIALS, session_for


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

    from countersign.client import _cannot_read

    down = EndpointConnectionError(endpoint_url="https://aws.internal.example:4566/")
    assert str(_cannot_read("S", "https://aws.internal.example:4566", "us-east-1", down)) == (
        "cannot reach https://aws.internal.example:4566: check the address and your network")
    assert str(_cannot_read("S", None, "eu-west-1", down)) == "cannot reach AWS: check the address and your network"
    assert str(_cannot_read("S", "http://localhost:5000", "us-east-1", down)).startswith(
        "no sandbox is running at http://localhost:5000")
