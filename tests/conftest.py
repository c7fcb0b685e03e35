"""Shared fixtures: one synthesized template per session, deployed once into moto."""
from __future__ import annotations

import os
import socket

os.environ.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                   "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                   "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"})
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_ENDPOINT_URL", None)

import pytest  # noqa: E402

EXECUTOR_ARN = "arn:aws:lambda:us-east-1:123456789012:function:"
TEST_CONTEXT = {
    "stage": "test",
    "evidence_hosts": ["shop.example"],      # the sample proposal's evidence links there
    "reviewers": [{"id": "alice", "email": "alice@example.com", "trained_on": "2026-09-14"},
                  {"id": "bob", "email": "bob@example.com"},
                  {"id": "carol", "email": "carol@example.com",
                   "principals": ["arn:aws:iam::123456789012:user/carol-*"],   # carol's IAM users, for SoD
                   "roles": ["finance"], "authority": {"risk": "medium"}, "trained_on": "2026-10-02"}],
    "policy": {
        "default": {"auto_approve_threshold": 0.9, "review_timeout_seconds": 3600, "risk": "medium",
                    "reversible": True},
        "action_types": {
            "refund.issue": {
                "parameters": {
                    "type": "object", "additionalProperties": False,
                    "required": ["customer_id", "amount", "currency"],
                    "properties": {"customer_id": {"type": "string"},
                                   "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": 10000},
                                   "currency": {"enum": ["USD", "EUR", "GBP"]}}}},
            "quick.timeout": {"review_timeout_seconds": 2},
            # tests act inside these windows (a veto, a flip, a sign-off): 3 s leaves them 2 s under two workers
            "notice.send": {"veto_threshold": 0.7, "veto_window_seconds": 3},
            "payout.risky": {"risk": "high"},
            "wipe.irreversible": {"reversible": False},
            "sample.everything": {"spot_check_rate": 1.0},
            "sample.half": {"spot_check_rate": 0.5},
            "never.auto": {"auto_approve_threshold": 1},      # a self-reported confidence of 1.0 is no evidence
            # waiting states whose window differs from the review timeout, to hold timer and deadline together
            "veto.long": {"veto_threshold": 0.7, "veto_window_seconds": 900, "review_timeout_seconds": 1800},
            "posthoc.long": {"hotl": "post_hoc", "veto_threshold": 0.7, "veto_window_seconds": 600,
                             "review_timeout_seconds": 1200, "executor": f"{EXECUTOR_ARN}countersign-test-executor",
                             "compensation": f"{EXECUTOR_ARN}countersign-test-compensation"},
            "staged.long": {"post_execution_review": True, "review_timeout_seconds": 700,
                            "executor": f"{EXECUTOR_ARN}countersign-test-executor"},
            "tiered.long": {"tiers": [{"reviewers": ["alice"], "timeout_seconds": 800},
                                      {"reviewers": ["bob"], "timeout_seconds": 900}], "review_timeout_seconds": 1500},
            "two.person": {"quorum": 2},
            "finance.payout": {"tiers": [{"reviewers": ["role:finance"], "timeout_seconds": 3600}]},
            "runs.action": {"executor": f"{EXECUTOR_ARN}countersign-test-executor"},
            "runs.broken": {"executor": f"{EXECUTOR_ARN}countersign-test-broken"},
            "runs.slow": {"executor": f"{EXECUTOR_ARN}countersign-test-slow"},
            "runs.flaky": {"executor": f"{EXECUTOR_ARN}countersign-test-flaky"},
            "vetoed.runs": {"veto_threshold": 0.7, "veto_window_seconds": 3,
                            "executor": f"{EXECUTOR_ARN}countersign-test-executor"},
            "quick.runs": {"review_timeout_seconds": 2, "executor": f"{EXECUTOR_ARN}countersign-test-executor"},
            "two.quick": {"quorum": 2, "review_timeout_seconds": 4},
            "staged.quick": {"post_execution_review": True, "review_timeout_seconds": 3,
                             "executor": f"{EXECUTOR_ARN}countersign-test-executor"},
            "staged.report": {"post_execution_review": True, "executor": f"{EXECUTOR_ARN}countersign-test-executor"},
            "posthoc.notice": {"hotl": "post_hoc", "veto_threshold": 0.7, "veto_window_seconds": 5,
                               "executor": f"{EXECUTOR_ARN}countersign-test-executor",
                               "compensation": f"{EXECUTOR_ARN}countersign-test-compensation"},
            # graduated autonomy: a loose target so a handful of decisions is evidence (the default needs 381)
            "calibrated.reply": {"auto_approve_threshold": 0.95, "target_error": 0.3, "min_samples": 8},
            "drift.watch": {"auto_approve_threshold": 0.6, "spot_check_rate": 1.0, "target_error": 0.05},
            # canaries: every first-tier review is also sent a known-bad copy (markup in its rule, to be escaped)
            "refund.checked": {"canary_rate": 1.0, "executor": f"{EXECUTOR_ARN}countersign-test-executor",
                              "canaries": [{"breaks": "a refund over <b>$1,000</b> needs a manager's sign-off & a ticket",
                                            "parameters": {"amount": 4200}}]},
            "tiered.change": {"tiers": [{"reviewers": ["alice"], "timeout_seconds": 4},
                                        {"reviewers": ["bob", "carol"], "timeout_seconds": 4}]},
            # reminders: a review requested inside its lead gets none, so each tier leaves the request
            # step 5 s (under load it has taken more than 1) before its 3 s reminder lead begins
            "tiered.remind": {"tiers": [{"reviewers": ["alice"], "timeout_seconds": 8},
                                        {"reviewers": ["bob", "carol"], "timeout_seconds": 8}],
                              "reminder_before_seconds": 3},
        },
    },
}


# A run on two workers (``pytest -n 2 --dist loadgroup``, pytest-xdist) keeps each `countersign local`
# on one worker, so it starts once: the tests under these folders share the session's sandbox, and
# these files the agent-policy one. Every other file is a group of its own (its module fixtures
# start once). ``pytest_collection_modifyitems`` holds the fixtures to the folders.
SANDBOX_FOLDERS = ("tests/e2e/", "tests/examples/")
AGENT_SANDBOX_FILES = ("tests/e2e/test_agents.py", "tests/e2e/test_mcp.py")


def group_of(nodeid: str) -> str:
    path = nodeid.split("::")[0]
    if path in AGENT_SANDBOX_FILES:
        return "agent_sandbox"
    return "sandbox" if path.startswith(SANDBOX_FOLDERS) else path


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup``, grouped by ``group_of``. xdist 3.8's own loadgroup appends the group to
    ``item._nodeid``, which pytest 9.2 no longer reads (``nodeid`` comes from ``item._id``), so its
    groups were silently lost and every test was scheduled on its own."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return GroupScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    """A test that starts a sandbox outside its group's folders would start a second one on the
    other worker: refuse to run rather than drift."""
    for item in items:
        uses = getattr(item, "fixturenames", ())
        needed = next((name for name in ("agent_sandbox", "sandbox") if name in uses), None)
        if needed and group_of(item.nodeid) != needed:
            where = "AGENT_SANDBOX_FILES" if needed == "agent_sandbox" else "SANDBOX_FOLDERS"
            raise pytest.UsageError(f"{item.nodeid} uses the {needed} fixture: list its file in "
                                    f"tests/conftest.py ({where})")


@pytest.fixture(autouse=True, scope="session")
def _no_network():
    """Tests never reach the network: only loopback connections are allowed."""
    real = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("/"):
            raise RuntimeError(f"tests must not use the network (tried {address!r})")
        return real(self, address)

    socket.socket.connect = guarded
    yield
    socket.socket.connect = real


@pytest.fixture(autouse=True, scope="session")
def _audit_records_schema_checked():
    """Every audit record written in-process is validated against the record schema as it is written."""
    from tests.fixtures import records

    undo = records.install()
    yield records
    undo()
    leftover = records.take_failures()   # written by a workflow still running after its test ended
    assert not leftover, "audit records that do not match the schema:\n" + "\n".join(leftover)


@pytest.fixture(autouse=True)
def _audit_records_match_schema(_audit_records_schema_checked):
    """A test fails when a record written during it does not match the audit record schema."""
    yield
    failures = _audit_records_schema_checked.take_failures()
    assert not failures, "audit records that do not match the schema:\n" + "\n".join(failures)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory):
    from countersign.sandbox.synth import synthesize

    return synthesize(tmp_path_factory.mktemp("cdk.out"), TEST_CONTEXT)


@pytest.fixture(scope="session")
def stack(synthesized):
    """The deployed stack in moto, with the Step Functions interpreter and in-process Lambdas."""
    from moto import mock_aws

    from countersign.sandbox.harness import Harness

    mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True},
                            "iam": {"load_aws_managed_policies": True}})
    mock.start()
    try:
        harness = Harness.deploy(synthesized)
        _create_test_executors()
        yield harness
    finally:
        mock.stop()


def _create_test_executors() -> None:
    """The executors the test policy names: ordinary Lambda functions, run in-process like the stack's."""
    import io
    import zipfile

    import boto3

    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("placeholder.txt", "handlers run in-process from tests/fixtures")
    role = boto3.client("iam").create_role(RoleName="countersign-test-executor", AssumeRolePolicyDocument="{}")
    for name, handler in [("countersign-test-executor", "run"), ("countersign-test-broken", "broken"),
                          ("countersign-test-compensation", "compensate"), ("countersign-test-slow", "slow"),
                          ("countersign-test-flaky", "flaky")]:
        boto3.client("lambda").create_function(
            FunctionName=name, Runtime="python3.12", Role=role["Role"]["Arn"],
            Handler=f"tests.fixtures.executors.{handler}", Code={"ZipFile": code.getvalue()})


@pytest.fixture
def kill_switch(stack):
    """Flip the stack's kill switch (SSM) as `countersign kill-switch` does; Prepare and Conclude
    read it with no cache here (5 s when deployed). Off again afterwards."""
    import boto3

    from countersign.sandbox import lambda_runtime

    ssm = boto3.client("ssm")
    name = stack.deployment.outputs["KillSwitchParameterName"]
    for handler in ("lambdas.prepare", "lambdas.conclude"):
        lambda_runtime.ENV_OVERRIDES.setdefault(stack.deployment.function_name(handler), {})[
            "KILL_SWITCH_CACHE_SECONDS"] = "0"
    lambda_runtime.reset()   # re-initialise them with the override

    def flip(mode: str) -> None:
        ssm.put_parameter(Name=name, Value=mode, Overwrite=True)

    yield flip
    flip("off")


@pytest.fixture(scope="session")
def sandbox():
    """One `countersign local` for every end-to-end test (tests/e2e, tests/examples)."""
    from tests.e2e.pipeline import running_sandbox

    yield from running_sandbox()


@pytest.fixture(scope="session")
def agent_sandbox():
    """One `countersign local` with the agent-facing policy (``tests.e2e.mcp_host.POLICY``), shared
    by the MCP and agent-framework tests."""
    from tests.e2e.mcp_host import POLICY
    from tests.e2e.pipeline import running_sandbox

    yield from running_sandbox(POLICY)
