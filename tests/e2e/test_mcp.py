"""`countersign mcp` as an agent host runs it: the MCP SDK's client over stdio (and Streamable HTTP)
against the agent-policy `countersign local` (shared with the agent tests), reviewers deciding
through the review page."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
import uuid
from contextlib import asynccontextmanager

import anyio
import pytest

from countersign import receipts
from tests.e2e.mcp_host import ARGS, REFUND, effects, mcp_command, refund
from tests.e2e.pipeline import ROOT, decide_by_http, email_for, free_port, post_decision, run_cli
from tests.helpers import newcomer_env


@pytest.fixture
def sandbox(agent_sandbox):
    return agent_sandbox


@asynccontextmanager
async def agent(sandbox, *flags: str):
    """An MCP client session with `countersign mcp` over stdio, started as a newcomer would."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    [command, *args] = mcp_command(sandbox, *flags)
    server = StdioServerParameters(command=command, args=args, cwd=str(ROOT), env=newcomer_env())
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write, client_info=_client_info()) as session:
            await session.initialize()
            yield session


def _client_info():
    from mcp.types import Implementation

    return Implementation(name="refund-agent", version="7.1")


def structured(result) -> dict:
    """What the client sees: the structured document, equal to the JSON text block."""
    [sentence, document] = [c.text for c in result.content]
    assert json.loads(document) == result.structuredContent
    return result.structuredContent


def _deployed_policy(sandbox) -> dict:
    import boto3

    aws = {"endpoint_url": sandbox["aws"], "region_name": "us-east-1", "aws_access_key_id": "sandbox",
           "aws_secret_access_key": "sandbox"}
    return json.loads(boto3.client("ssm", **aws).get_parameter(Name="/countersign/dev/policy")["Parameter"]["Value"])


async def in_thread(fn, *args):
    return await anyio.to_thread.run_sync(fn, *args)


def test_one_tool_per_action_type_with_an_executor_and_all_of_them_with_advisory(sandbox):
    async def main():
        async with agent(sandbox) as session:
            listed = {t.name: t for t in (await session.list_tools()).tools}
        async with agent(sandbox, "--advisory") as session:
            advisory = {t.name: t for t in (await session.list_tools()).tools}
        return listed, advisory

    listed, advisory = anyio.run(main)
    assert list(listed) == ["access_grant", "refund_issue", "ticket_reply", "countersign_wait", "countersign_status"]
    refund_tool = listed["refund_issue"]
    assert refund_tool.description == (
        "Refund a customer's charge through the payment provider. Policy: a human decides below confidence 0.95. "
        "Reviewers: any configured reviewer, 1 h to decide; no decision in time refuses it. On approval Countersign "
        "runs it (its executor) and returns the executor's result; refused, nothing runs. A call waits up to 10 min, "
        "then returns the review, pending, to continue with countersign_wait.")
    schema = refund_tool.inputSchema
    assert schema["properties"]["parameters"] == REFUND
    assert schema["required"] == ["parameters", "confidence", "summary", "reasoning", "evidence"]
    assert schema["properties"]["confidence"]["minimum"] == 0 and schema["properties"]["confidence"]["maximum"] == 1
    assert "idempotency_key" in schema["properties"] and schema["additionalProperties"] is False
    assert "tier 1: alice, 3 s; tier 2: bob, 10 min" in listed["access_grant"].description
    assert listed["countersign_wait"].inputSchema["required"] == ["review"]
    assert list(advisory) == ["access_grant", "notice_send", "refund_issue", "ticket_reply", "countersign_wait",
                              "countersign_status"]
    assert advisory["notice_send"].description.startswith("Post a notice on the status page. Policy: a human "
                                                          "decides below confidence 0.9.")
    assert "Advisory: Countersign does not run this action. On approval you carry it out yourself, so nothing " \
           "enforces the verdict." in advisory["notice_send"].description


def test_an_auto_approved_call_returns_the_executors_result_and_the_executor_ran_once(sandbox):
    marker = uuid.uuid4().hex[:8]
    arguments = {"parameters": {"ticket_id": "8812", "body": "Refunded."}, "confidence": 0.97,
                 "summary": f"Reply {marker}", "reasoning": "The refund went through.", "evidence": []}

    async def main():
        async with agent(sandbox) as session:
            return await session.call_tool("ticket_reply", arguments)

    result = anyio.run(main)
    doc = structured(result)
    assert result.isError is False and doc["outcome"] == "auto_approved" and doc["route"] == "auto"
    [effect] = effects(sandbox, doc["execution_arn"])                    # exactly once
    assert effect["phase"] == "execute" and effect["action"]["parameters"] == arguments["parameters"]
    assert doc["result"] == effect["result"] == {"message_id": effect["result"]["message_id"], "ticket_id": "8812",
                                                 "characters": 9, "status": "sent", "demo": True}
    assert effect["idempotency_key"].startswith(doc["execution_arn"] + "/") and effect["idempotency_key"].endswith(
        "/execute")
    assert result.content[0].text == (f"auto_approved via auto (policy {doc['policy_version']}). Countersign ran "
                                      f"it; the executor's result: {json.dumps(doc['result'])}")
    verdict = json.loads(run_cli(sandbox, "status", doc["review"], "--json").stdout)
    assert verdict["submitted_by"] == "arn:aws:sts::123456789012:user/moto"     # the server's identity, as submit
    claims = receipts.verify(doc["receipt"], doc["final_action"], run_cli(sandbox, "receipt", "public-key").stdout)
    assert (claims["execution_arn"], claims["outcome"]) == (doc["execution_arn"], "auto_approved")
    stored = json.loads(sandbox["sfn"].describe_execution(executionArn=doc["execution_arn"])["input"])
    assert "refund-agent" not in json.dumps(stored.get("submission", {}).get("submitted_by"))


def test_a_human_approval_after_an_escalation_with_progress_in_between(sandbox):
    marker = uuid.uuid4().hex[:8]
    said: list[str] = []

    async def main():
        escalated = anyio.Event()
        async with agent(sandbox) as session:
            async def progress(value, total, message):
                said.append(message)
                if message.startswith("escalated to tier 2"):
                    escalated.set()

            async with anyio.create_task_group() as tasks:
                done = {}

                async def call():
                    done["result"] = await session.call_tool("access_grant", {
                        "parameters": {"principal": "dana@example.com", "role": "db-readonly", "duration_hours": 8},
                        "confidence": 0.5, "summary": f"Grant {marker}", "reasoning": "On call.", "evidence": []},
                        progress_callback=progress)
                tasks.start_soon(call)
                link = (await in_thread(email_for, sandbox, marker, "bob"))["links"][0]     # after tier 1's 3 s
                await escalated.wait()                      # the agent was told before bob decides
                assert await in_thread(decide_by_http, sandbox, link, "approve", "On call this week.") == 200
            return done["result"]

    result = anyio.run(main)
    doc = structured(result)
    assert result.isError is False and doc["outcome"] == "approved" and doc["reviewers"][0]["id"] == "bob"
    assert doc["result"]["principal"] == "dana@example.com" and doc["result"]["status"] == "granted"
    assert said[0] == f"submitted: review {doc['review']}"
    waiting = [m for m in said if m.startswith(("waiting for a human decision", "escalated"))]
    assert waiting[0].startswith("waiting for a human decision: notified alice; decide by ") and \
        waiting[0].endswith(" or the review escalates to the next tier")
    assert waiting[-1].startswith("escalated to tier 2: notified bob; decide by ") and \
        waiting[-1].endswith(" or the action is refused")
    assert len(effects(sandbox, doc["execution_arn"])) == 1


def _decide_when_emailed(sandbox, marker: str, decide) -> None:
    link = email_for(sandbox, marker, "bob")["links"][0]
    decide(link)


def test_a_modification_returns_the_diff_and_what_ran(sandbox):
    marker = uuid.uuid4().hex[:8]

    def modify(link):
        token = urllib.request.unquote(link.split("?t=", 1)[1])
        edited = {"customer_id": "1182", "amount": 200, "currency": "USD"}
        post_decision(link, {"t": token, "decision": "modify", "rationale": "Only one capture was a duplicate.",
                             "reason": "wrong_parameters", "parameters": json.dumps(edited)})

    async def main():
        async with agent(sandbox) as session:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(in_thread, _decide_when_emailed, sandbox, marker, modify)
                return await session.call_tool("refund_issue", refund(marker))

    result = anyio.run(main)
    doc = structured(result)
    assert result.isError is False and doc["outcome"] == "modified" and doc["reason"] == "wrong_parameters"
    assert doc["changes"] == [{"path": "$.parameters.amount", "before": 420, "after": 200}]
    assert doc["result"]["amount"] == 200 and doc["result"]["status"] == "refunded"
    assert doc["final_action"]["parameters"]["amount"] == 200
    assert result.content[0].text == (
        f"modified by bob via human_review (policy {doc['policy_version']}). Changes: amount: 420 → 200. Countersign "
        f"ran it; the executor's result: {json.dumps(doc['result'])}")


def test_a_rejection_is_an_error_naming_the_rationale_reason_and_policy(sandbox):
    marker = uuid.uuid4().hex[:8]

    async def main():
        async with agent(sandbox) as session:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(in_thread, _decide_when_emailed, sandbox, marker,
                                 lambda link: decide_by_http(sandbox, link, "reject", "Already refunded by phone."))
                return await session.call_tool("refund_issue", refund(marker))

    result = anyio.run(main)
    doc = structured(result)
    version = _deployed_policy(sandbox)["version"]
    assert result.isError is True and doc["outcome"] == "rejected" and doc["policy_version"] == version
    assert (doc["rationale"], doc["reason"], doc["final_action"]) == ("Already refunded by phone.", "wrong_action", None)
    assert result.content[0].text == (f"rejected by bob (wrong_action): Already refunded by phone. (policy {version})."
                                      " Do not carry out this action.")
    assert effects(sandbox, doc["execution_arn"]) == []                  # nothing ran


def test_bad_arguments_name_the_path_and_start_nothing(sandbox):
    machine = sandbox["sfn"].list_state_machines()["stateMachines"][0]["stateMachineArn"]
    before = len(sandbox["sfn"].list_executions(stateMachineArn=machine)["executions"])

    async def main():
        async with agent(sandbox) as session:
            return [await session.call_tool("refund_issue", refund("x", confidence=1.5)),
                    await session.call_tool("refund_issue", refund("x", parameters={**ARGS["parameters"],
                                                                                    "currency": "XYZ"})),
                    await session.call_tool("refund_issue", {"confidence": 0.5})]

    results = anyio.run(main)
    assert [r.isError for r in results] == [True, True, True]
    assert [structured(r)["errors"][0]["path"] for r in results] == ["$.confidence", "$.parameters.currency", "$"]
    assert structured(results[0]) == {"outcome": "invalid", "started": False, "errors": [
        {"path": "$.confidence", "message": "$.confidence must be smaller than or equal to 1"}]}
    assert results[0].content[0].text == ("invalid arguments, nothing was started: $.confidence: $.confidence must "
                                          "be smaller than or equal to 1")
    assert len(sandbox["sfn"].list_executions(stateMachineArn=machine)["executions"]) == before


def test_max_wait_returns_the_review_pending_and_countersign_wait_continues(sandbox):
    marker = uuid.uuid4().hex[:8]

    async def main():
        async with agent(sandbox, "--max-wait", "2s") as session:
            first = await session.call_tool("refund_issue", refund(marker))
            link = (await in_thread(email_for, sandbox, marker, "alice"))["links"][0]
            assert await in_thread(decide_by_http, sandbox, link, "approve", "Duplicate confirmed.") == 200
            key = first.structuredContent["review"]
            return first, await session.call_tool("countersign_wait", {"review": key})

    first, second = anyio.run(main)
    doc = structured(first)
    assert first.isError is False and doc["outcome"] == "pending"
    assert doc["continue_with"] == {"tool": "countersign_wait", "arguments": {"review": doc["review"]}}
    assert doc["waiting_on"] == ["alice", "bob"] and doc["deadline"].endswith(" UTC")
    assert first.content[0].text.startswith("pending (--max-wait 2 s reached): waiting for a human decision: "
                                            "notified alice, bob; decide by ")
    assert first.content[0].text.endswith(f'call countersign_wait with {{"review": "{doc["review"]}"}} to wait for '
                                          "its verdict.")
    after = structured(second)
    assert second.isError is False and after["outcome"] == "approved" and after["review"] == doc["review"]
    assert after["result"]["refund_id"].startswith("rf-") and len(effects(sandbox, after["execution_arn"])) == 1


def test_a_cancelled_call_leaves_the_review_open_and_status_says_so(sandbox):
    import mcp.types as types
    from mcp.shared.exceptions import McpError

    marker = uuid.uuid4().hex[:8]

    async def main():
        async with agent(sandbox) as session:
            waiting = anyio.Event()

            async def progress(value, total, message):
                if message.startswith("waiting for a human decision"):
                    waiting.set()

            outcome = {}

            async def call():
                try:
                    await session.call_tool("refund_issue", refund(marker), progress_callback=progress)
                except McpError as exc:
                    outcome["error"] = exc.error.message

            request_id = session._request_id           # the id the next request gets
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(call)
                await waiting.wait()
                await session.send_notification(types.ClientNotification(types.CancelledNotification(
                    params=types.CancelledNotificationParams(requestId=request_id, reason="the agent moved on"))))
            status = await session.call_tool("countersign_status", {"review": _review_of(sandbox, marker)})
            return outcome, status

    outcome, status = anyio.run(main)
    assert outcome == {"error": "Request cancelled"}
    doc = structured(status)
    assert status.isError is False and doc["outcome"] == "pending" and doc["wait_cancelled_at"].endswith("+00:00")
    assert status.content[0].text.startswith(f"The caller cancelled its wait at {doc['wait_cancelled_at']}; the "
                                             "review stays open. pending (not decided yet): waiting for a human "
                                             "decision: notified alice, bob")
    assert sandbox["sfn"].describe_execution(executionArn=doc["execution_arn"])["status"] == "RUNNING"


def _review_of(sandbox, marker: str) -> str:
    """The execution ARN of the review whose summary holds ``marker``."""
    machine = sandbox["sfn"].list_state_machines()["stateMachines"][0]["stateMachineArn"]
    for execution in sandbox["sfn"].list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]:
        described = sandbox["sfn"].describe_execution(executionArn=execution["executionArn"])
        if marker in described["input"] or marker in json.dumps(_proposal(described["input"])):
            return execution["executionArn"]
    raise AssertionError(f"no running review for {marker}")


def _proposal(raw: str) -> dict:
    from countersign.workflow.submission import proposal_of

    return proposal_of(json.loads(raw))


def test_two_concurrent_calls_each_get_their_own_verdict(sandbox):
    approve, reject = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]

    async def main():
        results = {}
        async with agent(sandbox) as session:
            async def call(marker):
                results[marker] = await session.call_tool("refund_issue", refund(marker))

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(call, approve)
                tasks.start_soon(call, reject)
                tasks.start_soon(in_thread, _decide_when_emailed, sandbox, reject,
                                 lambda link: decide_by_http(sandbox, link, "reject", "Not a duplicate."))
                tasks.start_soon(in_thread, _decide_when_emailed, sandbox, approve,
                                 lambda link: decide_by_http(sandbox, link, "approve", "Duplicate."))
        return results

    results = anyio.run(main)
    assert (results[approve].isError, structured(results[approve])["outcome"]) == (False, "approved")
    assert (results[reject].isError, structured(results[reject])["outcome"]) == (True, "rejected")
    assert structured(results[approve])["result"]["refund_id"] != structured(results[reject]).get("result")


def test_the_kill_switch_halts_a_call(sandbox):
    assert run_cli(sandbox, "kill-switch", "on", "--reason", "agent incident").returncode == 0
    try:
        time.sleep(5.5)          # Prepare reads the switch through a 5-second cache

        async def main():
            async with agent(sandbox) as session:
                return await session.call_tool("refund_issue", refund(uuid.uuid4().hex[:8]))

        result = anyio.run(main)
    finally:
        assert run_cli(sandbox, "kill-switch", "off").returncode == 0
        time.sleep(5.5)
    doc = structured(result)
    version = _deployed_policy(sandbox)["version"]
    assert result.isError is True and doc["outcome"] == "halted" and doc["policy_version"] == version
    assert result.content[0].text == f"halted by the kill switch: nothing runs (policy {version}). Do not carry out " \
                                     "this action."
    assert effects(sandbox, doc["execution_arn"]) == []


def test_streamable_http_serves_the_same_tools(sandbox):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "countersign", "mcp", "--http", "--port", str(port),
                               "--endpoint", sandbox["aws"]], cwd=ROOT, env=newcomer_env(), stderr=subprocess.PIPE)
    try:
        async def main():
            for _ in range(100):                  # until it listens
                try:
                    async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write, _):
                        async with ClientSession(read, write) as session:
                            await session.initialize()
                            return [t.name for t in (await session.list_tools()).tools]
                except Exception:
                    await anyio.sleep(0.2)

        assert anyio.run(main) == ["access_grant", "refund_issue", "ticket_reply", "countersign_wait",
                                   "countersign_status"]
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_an_executor_invoked_directly_acts_on_nothing_without_a_receipt_for_its_action(sandbox):
    import boto3

    from countersign.sandbox import executors

    lam = boto3.client("lambda", endpoint_url=sandbox["aws"], region_name="us-east-1",
                       aws_access_key_id="sandbox", aws_secret_access_key="sandbox")
    action = {"type": "refund.issue", "summary": "Refund, invoked directly",
              "parameters": {"customer_id": "1182", "amount": 9000, "currency": "USD"}}
    key = f"direct-{uuid.uuid4().hex[:8]}"
    other = structured(anyio.run(_auto_reply, sandbox))["receipt"]           # a genuine receipt, for another action
    for receipt, why in [(None, "no decision receipt"), (other, "the action does not match it"),
                         ("eyJhbGciOiJFUzI1NiJ9.e30.AAAA", "not valid")]:
        got = lam.invoke(FunctionName=executors.function_name("refund.issue"), Payload=json.dumps(
            {"phase": "execute", "action": action, "idempotency_key": key, "receipt": receipt}))
        answer = got["Payload"].read().decode()
        assert got.get("FunctionError") and why in answer, answer
    with urllib.request.urlopen(sandbox["web"] + "/effects.json") as done:
        assert not [e for e in json.load(done) if e["idempotency_key"] == key]


async def _auto_reply(sandbox):
    async with agent(sandbox) as session:
        return await session.call_tool("ticket_reply", {
            "parameters": {"ticket_id": "9001", "body": "Done."}, "confidence": 0.97, "summary": "Reply",
            "reasoning": "Routine.", "evidence": []})
