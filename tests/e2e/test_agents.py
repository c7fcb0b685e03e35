"""Agent frameworks end to end: a LangChain agent (examples/agents/langchain_agent.py, a scripted
chat model in place of an LLM) calls `refund_issue` through langchain-mcp-adapters, `countersign mcp`
over stdio submits it to the agent-policy sandbox (shared with the MCP tests), a reviewer approves in
headless Chromium, the demo executor runs once and the agent reads its result. An OpenAI Agents SDK
agent (examples/agents/openai_agent.py, a scripted model in place of an OpenAI model, tracing off)
makes an auto-approved `refund_issue` call through MCPServerStdio and its model reads the
executor's result. The agent processes have no AWS credentials."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from countersign.cli.commands import parser
from tests.e2e.mcp_host import effects, refund
from tests.e2e.pipeline import ROOT, approve_in_browser, run_cli
from tests.helpers import newcomer_env

EXAMPLES = ROOT / "examples" / "agents"


@pytest.fixture
def sandbox(agent_sandbox):
    return agent_sandbox


def test_a_langchain_agents_refund_is_approved_in_the_browser_and_it_reads_the_executors_result(sandbox, tmp_path):
    marker = uuid.uuid4().hex[:8]
    arguments = refund(marker)                                  # confidence 0.72: below 0.95, a human decides
    env = newcomer_env()
    assert not [k for k in env if k.startswith("AWS_")]
    agent = subprocess.Popen([sys.executable, "-m", "tests.e2e.scripted_agent", sandbox["aws"], "refund_issue",
                              json.dumps(arguments)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        approve_in_browser(sandbox, marker, "alice", "Two captures 14 s apart; refund the duplicate.")
        out, err = agent.communicate(timeout=60)
    finally:
        agent.kill()
    assert agent.returncode == 0, err
    run = json.loads(out)
    assert run["aws_env"] == []                                 # the agent itself holds no AWS credentials
    assert run["tools"] == ["access_grant", "refund_issue", "ticket_reply", "countersign_wait", "countersign_status"]
    [human, call, answer, final] = run["messages"]
    assert (human["type"], call["type"], answer["type"], final["type"]) == ("human", "ai", "tool", "ai")
    assert call["tool_calls"][0]["args"] == arguments and answer["tool_call_id"] == "call-1"
    assert answer["status"] == "success"
    doc = answer["artifact"]["structured_content"]
    assert doc["outcome"] == "approved" and doc["reviewers"][0]["id"] == "alice"
    [effect] = effects(sandbox, doc["execution_arn"])           # the demo executor ran exactly once
    assert effect["phase"] == "execute" and effect["action"]["parameters"] == arguments["parameters"]
    refund_id = effect["result"]["refund_id"]
    assert refund_id.startswith("rf-") and doc["result"] == effect["result"]
    [sentence, document] = [block["text"] for block in answer["content"]]      # what the model reads
    assert sentence.startswith("approved by alice via human_review") and refund_id in sentence
    assert json.loads(document) == doc

    status = run_cli(sandbox, "status", doc["review"], "--json")       # the trail: who decided and why
    [reviewer] = json.loads(status.stdout)["reviewers"]
    assert status.returncode == 0 and (reviewer["id"], reviewer["rationale"]) == (
        "alice", "Two captures 14 s apart; refund the duplicate.")
    export = tmp_path / "trail.jsonl"
    assert run_cli(sandbox, "audit", "export", "--out", str(export)).returncode == 0
    bodies = [json.loads(json.loads(line)["body"]) for line in export.read_text().splitlines()[1:]]
    [decided] = [b for b in bodies if b.get("event") == "decision_recorded" and marker in json.dumps(b)]
    assert (decided["reviewer"], decided["decision"], decided["rationale"]) == (
        "alice", "approved", "Two captures 14 s apart; refund the duplicate.")


def test_an_openai_agents_refund_is_auto_approved_and_the_model_reads_the_executors_result(sandbox):
    marker = uuid.uuid4().hex[:8]
    arguments = refund(marker, confidence=0.97)                 # at least 0.95: auto-approved, no human
    env = newcomer_env(OPENAI_AGENTS_DISABLE_TRACING="1")       # no OPENAI_API_KEY; no traces uploaded
    assert not [k for k in env if k.startswith("AWS_")]
    agent = subprocess.run([sys.executable, "-m", "tests.e2e.scripted_openai_agent", sandbox["aws"], "refund_issue",
                            json.dumps(arguments)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert agent.returncode == 0, agent.stderr
    run = json.loads(agent.stdout)
    assert run["aws_env"] == [] and run["refused"] == []        # no AWS credentials; no connection off loopback
    assert run["tools"] == ["access_grant", "refund_issue", "ticket_reply", "countersign_wait", "countersign_status"]
    assert run["calls"] == 2 and run["instructions"].startswith("You handle billing tickets.")
    [request] = run["request"]
    assert request["role"] == "user" and request["content"].startswith("Ticket #8812:")
    call, result = run["tool_call"], run["tool_result"]
    assert call["name"] == "refund_issue" and json.loads(call["arguments"]) == arguments
    assert result["call_id"] == call["call_id"] == "call-1"
    [sentence, document] = [block["text"] for block in result["output"]]       # what the model reads
    doc = json.loads(document)
    assert doc["outcome"] == "auto_approved" and doc["route"] == "auto" and doc["reviewers"] == []
    [effect] = effects(sandbox, doc["execution_arn"])           # the demo executor ran exactly once
    assert effect["phase"] == "execute" and effect["action"]["parameters"] == arguments["parameters"]
    refund_id = effect["result"]["refund_id"]
    assert refund_id.startswith("rf-") and doc["result"] == effect["result"]
    assert sentence == (f"auto_approved via auto (policy {doc['policy_version']}). Countersign ran it; the "
                        f"executor's result: {json.dumps(doc['result'])}") and refund_id in sentence
    assert run["final_output"] == "Done: the tool's result is above."


@pytest.mark.parametrize("name", ["sandbox.mcp.json", "deployed.mcp.json"])
def test_the_mcp_servers_entries_are_commands_countersign_accepts(name):
    [entry] = json.loads((EXAMPLES / name).read_text())["mcpServers"].values()
    assert Path(entry["command"]).name == "countersign"
    args = parser().parse_args(entry["args"])
    assert args.run.__module__ == "countersign.cli.mcp_server" and (args.endpoint == "http://127.0.0.1:5000") == (name == "sandbox.mcp.json")


def test_the_lambda_bundles_hold_no_agent_framework_and_no_mcp():
    """The agents' packages (the `agents` extra) are client-side: what synth ships to Lambda has none."""
    from stacks.packaging import dependency_layer_dir, function_code_dir

    function, layer = Path(function_code_dir()), Path(dependency_layer_dir())
    assert sorted(p.name for p in function.iterdir()) == ["countersign", "lambdas"]
    assert sorted(p.name for p in (layer / "python").iterdir()) == ["jinja2", "markupsafe"]
    shipped = [p for p in function.rglob("*.py")]
    assert not [p for p in shipped if {"cli", "sandbox", "examples"} & set(p.relative_to(function).parts)]
    imports = ("import langchain", "from langchain", "import langgraph", "from langgraph", "import mcp", "from mcp")
    assert not [p for p in shipped if any(i in p.read_text() for i in imports)]
