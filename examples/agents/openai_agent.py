"""An OpenAI Agents SDK agent whose tools come from `countersign mcp` over stdio (MCPServerStdio).

Not a dependency of Countersign: install the SDK yourself (`pip install openai-agents`) and set
OPENAI_API_KEY. The agent proposes; a human decides when the policy says so; the tool returns what
was decided and what the executor returned. tests/e2e/test_agents.py runs `run` end to end with a
scripted model in place of an OpenAI model.

    python examples/agents/openai_agent.py --endpoint http://127.0.0.1:5000     # `make local`
    python examples/agents/openai_agent.py --stack Countersign-dev               # a deployed stack
"""
from __future__ import annotations

import argparse
import asyncio
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agents import Model

INSTRUCTIONS = ("You handle billing tickets. Act only through your tools. A tool's result says what a human "
                "decided and what ran: report it as it is, and never carry out a refused action another way.")
REQUEST = ("Ticket #8812: customer 1182 was charged $420 twice for order 5531 (two captures 14 seconds "
           "apart). Refund the duplicate.")


async def run(request: str, target: list[str], model: str | Model,
              command: tuple[str, ...] = ("countersign",)) -> str:
    """One agent run with ``model`` (a name, or any agents.Model) over the gate's tools; its final output."""
    from agents import Agent, Runner
    from agents.mcp import MCPServerStdio

    # a human may take minutes: no client-side timeout on a tool call (the server's --max-wait bounds it)
    async with MCPServerStdio(name="countersign", params={"command": command[0],
                                                          "args": [*command[1:], "mcp", *target],
                                                          "env": dict(os.environ)},
                              client_session_timeout_seconds=None) as countersign:
        agent = Agent(name="billing", instructions=INSTRUCTIONS, model=model, mcp_servers=[countersign])
        result = await Runner.run(agent, request)
        return result.final_output


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", help="the sandbox's AWS endpoint (countersign local prints it)")
    p.add_argument("--stack", help="a deployed stack's name (default Countersign-dev)")
    p.add_argument("--model", default="gpt-4.1")
    p.add_argument("request", nargs="?", default=REQUEST)
    args = p.parse_args()
    target = ["--endpoint", args.endpoint] if args.endpoint else []
    target += ["--stack", args.stack] if args.stack else []
    print(asyncio.run(run(args.request, target, args.model)))


if __name__ == "__main__":
    main()
