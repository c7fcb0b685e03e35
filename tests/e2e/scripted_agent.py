"""examples/agents/langchain_agent.py with a scripted chat model in place of an LLM, run as the
agent's own process: ``python -m tests.e2e.scripted_agent ENDPOINT TOOL ARGUMENTS_JSON``.

The model asks for one tool call, then answers with a fixed sentence. Prints one JSON document:
the agent process's AWS_* variables, the tools bound to the model, and the agent's messages."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from tests.helpers import load_example

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agents" / "langchain_agent.py"


class ScriptedModel(GenericFakeChatModel):
    """A fake chat model that accepts tools, as a tool-calling LLM does, and notes their names."""

    bound: list[str] = []

    def bind_tools(self, tools, **kwargs: Any):
        self.bound[:] = [t.name for t in tools]
        return self


def main(endpoint: str, tool: str, arguments: dict[str, Any]) -> None:
    agent = load_example(EXAMPLE)
    model = ScriptedModel(messages=iter([
        AIMessage(content="", tool_calls=[{"name": tool, "args": arguments, "id": "call-1", "type": "tool_call"}]),
        AIMessage(content="Done: the tool's result is above."),
    ]))
    server = agent.countersign_server(endpoint=endpoint, command=(sys.executable, "-m", "countersign"))
    state = asyncio.run(agent.run(model, agent.REQUEST, server))
    print(json.dumps({"aws_env": sorted(k for k in os.environ if k.startswith("AWS_")), "tools": model.bound,
                      "messages": [m.model_dump(mode="json") for m in state["messages"]]}, default=str))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))
