"""examples/agents/openai_agent.py with a scripted model in place of an OpenAI model, run as the
agent's own process: ``python -m tests.e2e.scripted_openai_agent ENDPOINT TOOL ARGUMENTS_JSON``.

The model asks for one tool call, then answers with a fixed sentence. Tracing is off and the process
refuses any connection that is not to loopback. Prints one JSON document: the agent process's AWS_*
variables, the tools offered to the model, the tool call it made, the tool result it then received,
the run's final output and any connection refused."""
from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from agents import Model, ModelResponse, Usage, set_tracing_disabled
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText

from tests.helpers import load_example

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agents" / "openai_agent.py"
FINAL = "Done: the tool's result is above."
REFUSED: list[str] = []


class ScriptedModel(Model):
    """First call: one function call to ``tool``; second call: ``FINAL``. Notes what it was given."""

    def __init__(self, tool: str, arguments: dict[str, Any]) -> None:
        self.tool, self.arguments = tool, arguments
        self.calls: list[dict[str, Any]] = []

    async def get_response(self, system_instructions, input, model_settings, tools, output_schema, handoffs,
                           tracing, *, previous_response_id=None, conversation_id=None, prompt=None, **kwargs):
        self.calls.append({"instructions": system_instructions, "tools": [t.name for t in tools],
                           "input": [input] if isinstance(input, str) else list(input)})
        if len(self.calls) == 1:
            output = [ResponseFunctionToolCall(type="function_call", id="fc-1", call_id="call-1", name=self.tool,
                                               arguments=json.dumps(self.arguments), status="completed")]
        else:
            output = [ResponseOutputMessage(type="message", id="msg-1", role="assistant", status="completed",
                                            content=[ResponseOutputText(type="output_text", text=FINAL,
                                                                        annotations=[])])]
        return ModelResponse(output=output, usage=Usage(), response_id=None)

    def stream_response(self, *args, **kwargs):
        raise NotImplementedError("the example runs without streaming")


def loopback_only() -> None:
    """As tests/conftest.py does in the test process: refuse (and note) any non-loopback connection."""
    real = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("/"):
            REFUSED.append(repr(address))
            raise OSError(f"no network in the tests (tried {address!r})")
        return real(self, address)

    socket.socket.connect = guarded


def main(endpoint: str, tool: str, arguments: dict[str, Any]) -> None:
    loopback_only()
    set_tracing_disabled(True)              # the SDK otherwise uploads traces to OpenAI
    agent = load_example(EXAMPLE)
    model = ScriptedModel(tool, arguments)
    final = asyncio.run(agent.run(agent.REQUEST, ["--endpoint", endpoint], model,
                                  command=(sys.executable, "-m", "countersign")))
    first, second = model.calls
    [call] = [i for i in second["input"] if isinstance(i, dict) and i.get("type") == "function_call"]
    [result] = [i for i in second["input"] if isinstance(i, dict) and i.get("type") == "function_call_output"]
    print(json.dumps({"aws_env": sorted(k for k in os.environ if k.startswith("AWS_")), "calls": len(model.calls),
                      "instructions": first["instructions"], "request": first["input"], "tools": first["tools"],
                      "tool_call": call, "tool_result": result, "final_output": final, "refused": REFUSED},
                     default=str))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))
