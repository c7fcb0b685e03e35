"""A LangChain agent whose tools come from `countersign mcp` over stdio (langchain-mcp-adapters).

The agent proposes; Countersign routes the call, a human decides when the policy says so, and the
tool returns what was decided and what the executor returned. The agent never holds the
executor's credentials: the server needs only the AgentSubmitPolicy identity (none for the sandbox).

    pip install '.[agents]' langchain-anthropic        # in a checkout; or your model's provider package
    python examples/agents/langchain_agent.py --endpoint http://127.0.0.1:5000     # `make local`
    python examples/agents/langchain_agent.py --stack Countersign-dev               # a deployed stack
"""
from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

INSTRUCTIONS = ("You handle billing tickets. Act only through your tools. A tool's result says what a human "
                "decided and what ran: report it as it is, and never carry out a refused action another way.")
REQUEST = ("Ticket #8812: customer 1182 was charged $420 twice for order 5531 (two captures 14 seconds "
           "apart). Refund the duplicate.")


def countersign_server(*, endpoint: str | None = None, stack: str | None = None,
                       command: tuple[str, ...] = ("countersign",)) -> dict[str, Any]:
    """The stdio connection that starts `countersign mcp`: the sandbox's with ``endpoint``, else the
    stack's with this process's AWS identity (it passes its environment on, so AWS_PROFILE works)."""
    target = ["--endpoint", endpoint] if endpoint else []
    target += ["--stack", stack] if stack else []
    return {"transport": "stdio", "command": command[0], "args": [*command[1:], "mcp", *target],
            "env": dict(os.environ)}


async def run(model: Any, request: str, server: dict[str, Any]) -> dict[str, Any]:
    """Run one agent turn with ``model`` over the gate's tools; the agent's final state."""
    from langchain.agents import create_agent
    from langchain_mcp_adapters.client import MultiServerMCPClient
    from langchain_mcp_adapters.tools import load_mcp_tools

    client = MultiServerMCPClient({"countersign": server})
    async with client.session("countersign") as session:         # one server for the whole run
        tools = await load_mcp_tools(session)
        agent = create_agent(model, tools, system_prompt=INSTRUCTIONS)
        return await agent.ainvoke({"messages": [{"role": "user", "content": request}]})


def main() -> None:
    from langchain.chat_models import init_chat_model

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", help="the sandbox's AWS endpoint (countersign local prints it)")
    p.add_argument("--stack", help="a deployed stack's name (default Countersign-dev)")
    p.add_argument("--model", default="anthropic:claude-sonnet-4-5", help="provider:model for init_chat_model")
    p.add_argument("request", nargs="?", default=REQUEST)
    args = p.parse_args()
    state = asyncio.run(run(init_chat_model(args.model), args.request,
                            countersign_server(endpoint=args.endpoint, stack=args.stack)))
    for message in state["messages"]:
        message.pretty_print()


if __name__ == "__main__":
    main()
