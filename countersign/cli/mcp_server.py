"""``countersign mcp``: the gate as an MCP server, so an agent's actions go through it.

One tool per action type of the deployed policy (``agent_tools``). A call submits a proposal and
waits for the verdict with the code ``countersign submit --wait`` runs (``client.check_proposal``,
``client.start``, ``follow.wait``, ``client.verdict_of``), sending progress notifications, for at
most ``--max-wait``; then the review stays open and ``countersign_wait`` continues. Built on the
MCP Python SDK's low-level server; stdio by default, Streamable HTTP on loopback with ``--http``.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from countersign.cli import agent_tools, client, follow
from countersign.rules.proposal import InvalidProposal, execution_name

HEARTBEAT = 30.0      # seconds between progress notifications while nothing changes (clients' request timeouts)
NAME = "countersign"


def add(sub, target_options) -> None:
    """The ``mcp`` subcommand."""
    from countersign.cli.commands import duration

    p = sub.add_parser("mcp", help="serve the gate to agents over MCP: one tool per action type (stdio; --http)")
    p.add_argument("--http", action="store_true", help="serve Streamable HTTP on 127.0.0.1 instead of stdio")
    p.add_argument("--port", type=int, default=8765, help="with --http: the port (default 8765; path /mcp)")
    p.add_argument("--max-wait", type=duration, default=600.0, help="how long one call waits for a verdict before it "
                                                                    "returns the review, pending (default 10m)")
    p.add_argument("--advisory", action="store_true", help="also list the action types without an executor (the "
                                                           "caller carries them out: nothing enforces the verdict)")
    p.add_argument("--workflow", help="workflow (state machine) name or ARN; default: the stack's gate")
    target_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    import importlib.util

    if importlib.util.find_spec("mcp") is None:
        raise client.ClientError("countersign mcp needs the MCP Python SDK: pip install 'countersign[mcp]'")
    import anyio
    from countersign.cli.commands import _target

    gate = Gate(_target(args), args.max_wait, args.advisory, args.workflow)
    gate.tools()                     # fail now, not at the first call: the policy must be readable and valid
    server = gate.server()
    if args.http:
        serve_http(server, args.port)
    else:
        anyio.run(serve_stdio, server)
    return 0


@dataclass
class Call:
    """One waiting call: its review once submitted, the last progress seen, and its stop flag."""
    key: str | None = None
    arn: str | None = None
    last: follow.Progress = follow.Progress("RUNNING")
    stop: threading.Event = field(default_factory=threading.Event)


class Gate:
    """The tools over one deployed stack (a ``client.Target``)."""

    def __init__(self, target: client.Target, max_wait: float, advisory: bool, workflow: str | None) -> None:
        self.target, self.max_wait, self.advisory, self.workflow = target, max_wait, advisory, workflow
        self.proposals: dict[str, dict[str, Any]] = {}     # what this server submitted, for content binding
        self.cancelled: dict[str, str] = {}                # review → when a client cancelled its wait

    def policy(self) -> dict[str, Any]:
        """The deployed policy, read now and checked against its schema and version (fail closed)."""
        from countersign.rules.policy import checked_document

        name = self.target.outputs.get("PolicyParameterName")
        try:
            return checked_document(json.loads(self.target.ssm.get_parameter(Name=name)["Parameter"]["Value"]))
        except Exception as exc:
            raise client.ClientError(f"cannot read the policy parameter {name} of stack {self.target.stack}: {exc} "
                                     "(the agent host needs ssm:GetParameter on it: AgentSubmitPolicy)") from None

    def tools(self) -> dict[str, agent_tools.Tool]:
        try:
            return agent_tools.catalogue(self.policy(), self.advisory, self.max_wait)
        except agent_tools.Collision as exc:
            raise client.ClientError(str(exc)) from None

    def call(self, name: str, arguments: dict[str, Any], caller: dict[str, Any] | None, call: Call,
             say: Callable[[str], None]) -> agent_tools.Result:
        """A tool call, start to result (blocking: run in a worker thread)."""
        policy = self.policy()
        tool = agent_tools.catalogue(policy, self.advisory, self.max_wait).get(name)
        if tool is None:
            return agent_tools.Result(f"unknown tool {name!r}: list the tools again (the policy may have changed)",
                                      {"outcome": "unknown_tool", "tool": name}, True)
        if tool.action_type is None:
            try:
                agent_tools.validate(arguments, tool.input_schema)
            except agent_tools.SchemaError as exc:
                return agent_tools.invalid([{"path": exc.path, "message": exc.message}])
            return self.status(arguments["review"]) if name == agent_tools.STATUS else \
                self.resume(arguments["review"], call, say, policy)
        try:
            proposal = agent_tools.proposal_for(tool, arguments, caller)
            client.check_proposal(self.target, proposal)
            key = execution_name(proposal)
            arn, fresh = client.start(self.target, proposal, self.workflow, key, proposal.get("idempotency_key"))
        except InvalidProposal as exc:
            return agent_tools.invalid(exc.errors)
        except client.KeyReused as exc:
            return agent_tools.invalid([{"path": "$.idempotency_key", "message": str(exc)}])
        self.proposals[key] = proposal
        call.key, call.arn = key, arn
        say(f"{'submitted' if fresh else 'joined (same idempotency key and content)'}: review {key}")
        return self.follow(call, proposal, say, policy)

    def locate(self, review: str) -> tuple[str, str]:
        """(key, execution ARN) of a review named by its key or its execution ARN."""
        if review.startswith("arn:"):
            return review.rsplit(":", 1)[1], review
        key = execution_name({}, review)
        return key, self.target.execution_arn(key, self.workflow)

    def described(self, arn: str) -> dict[str, Any] | None:
        try:
            return self.target.sfn.describe_execution(executionArn=arn)
        except self.target.sfn.exceptions.ExecutionDoesNotExist:
            return None

    def resume(self, review: str, call: Call, say: Callable[[str], None], policy: dict[str, Any]) -> agent_tools.Result:
        """``countersign_wait``: wait again, as ``countersign wait KEY`` re-attaches."""
        call.key, call.arn = self.locate(review)
        if self.described(call.arn) is None:
            return _unknown(review, self.target.stack)
        self.cancelled.pop(call.key, None)
        return self.follow(call, self.proposals.get(call.key), say, policy)

    def follow(self, call: Call, proposal: dict[str, Any] | None, say: Callable[[str], None],
               policy: dict[str, Any]) -> agent_tools.Result:
        """Wait for the verdict within --max-wait (``follow.wait``, bounded and stoppable)."""
        def seen(progress: follow.Progress) -> None:
            call.last = progress
            say(progress.describe())

        try:
            described = follow.wait(self.target.sfn, call.arn, seen, pace=follow.pace_for(self.target.endpoint),
                                    heartbeat=HEARTBEAT, on_heartbeat=lambda p, waited: say(
                                        f"still waiting ({waited:.0f} s): {p.describe()}"),
                                    sleep=follow.bounded_sleep(call.stop, time.monotonic() + self.max_wait))
        except follow.Interrupted as exc:
            why = f"--max-wait {self.max_wait:g} s reached" if exc.reason == "max_wait" else "the wait was cancelled"
            return agent_tools.pending(call.key, call.arn, call.last, why)
        return self.finished(call.key, described, proposal, policy)

    def finished(self, key: str, described: dict[str, Any], proposal: dict[str, Any] | None,
                 policy: dict[str, Any]) -> agent_tools.Result:
        if proposal is not None and (mismatch := client.bound_elsewhere(described, proposal)):
            return agent_tools.invalid([{"path": "$", "message": mismatch}])      # never another's verdict
        _code, verdict = client.verdict_of(described)
        return agent_tools.verdict_result(key, verdict, proposal, policy.get("version"))

    def status(self, review: str) -> agent_tools.Result:
        """``countersign_status``: the review's state now, and whether a client cancelled its wait."""
        key, arn = self.locate(review)
        described = self.described(arn)
        if described is None:
            return _unknown(review, self.target.stack)
        if described["status"] != "RUNNING":
            return self.finished(key, described, self.proposals.get(key), self.policy())
        result = agent_tools.pending(key, arn, follow.progress(self.target.sfn, arn), "not decided yet")
        if key in self.cancelled:
            return agent_tools.Result(f"The caller cancelled its wait at {self.cancelled[key]}; the review stays "
                                      f"open. {result.text}", {**result.structured, "wait_cancelled_at":
                                                               self.cancelled[key]})
        return result

    def server(self):
        """The MCP server: tools/list and tools/call over this gate."""
        import anyio
        import mcp.types as types
        from mcp.server.lowlevel import Server

        server = Server(NAME, version=_version(), instructions=(
            "Countersign gates your actions behind human review. Each action tool submits a proposal; "
            "the policy decides whether a human must approve it. The result is what was decided and, when "
            "Countersign ran the action, the executor's result. isError means: do not carry it out. A pending "
            f"result names the review: continue with {agent_tools.WAIT}."))

        @server.list_tools()
        async def list_tools() -> list[types.Tool]:
            tools = await anyio.to_thread.run_sync(self.tools)
            return [types.Tool(name=t.name, description=t.description, inputSchema=t.input_schema)
                    for t in tools.values()]

        @server.call_tool(validate_input=False)      # validated here, with the argument's path
        async def call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
            context = server.request_context
            declared = getattr(context.session.client_params, "clientInfo", None)
            caller = declared.model_dump(exclude_none=True) if declared is not None else None
            token = context.meta.progressToken if context.meta else None
            call, sent = Call(), iter(range(1, 1 << 30))

            async def notify(message: str) -> None:
                await context.session.send_progress_notification(token, next(sent), None, message,
                                                                  related_request_id=str(context.request_id))

            def say(message: str) -> None:        # from the worker thread; a failed notification is not fatal
                if token is not None and not call.stop.is_set():
                    try:
                        anyio.from_thread.run(notify, message)
                    except Exception:
                        pass

            try:
                result = await anyio.to_thread.run_sync(self.call, name, arguments or {}, caller, call, say,
                                                        abandon_on_cancel=True)
            except anyio.get_cancelled_exc_class():
                if call.key:                     # notifications/cancelled: the review stays open
                    self.cancelled[call.key] = datetime.now(timezone.utc).isoformat(timespec="seconds")
                raise
            except Exception as exc:             # a ClientError (AWS unreachable, say), reported to the caller
                result = agent_tools.Result(f"error: {exc}", {"outcome": "error", "error": str(exc),
                                                              "review": call.key}, True)
            finally:
                call.stop.set()
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=result.text),
                         types.TextContent(type="text", text=json.dumps(result.structured))],
                structuredContent=result.structured, isError=result.is_error)

        return server


def _version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("countersign")
    except PackageNotFoundError:
        return None


def _unknown(review: str, stack: str) -> agent_tools.Result:
    return agent_tools.Result(f"no review {review!r} in {stack}", {"outcome": "unknown_review", "review": review}, True)


async def serve_stdio(server) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def serve_http(server, port: int) -> None:
    """Streamable HTTP at http://127.0.0.1:PORT/mcp, loopback only (it acts with this host's AWS
    identity: anything that reaches it submits as that identity), with DNS-rebinding protection."""
    import contextlib

    import uvicorn
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.applications import Starlette
    from starlette.routing import Route

    hosts = [f"127.0.0.1:{port}", f"localhost:{port}"]
    manager = StreamableHTTPSessionManager(app=server, security_settings=TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=[f"http://{h}" for h in hosts]))

    class Endpoint:
        async def __call__(self, scope, receive, send) -> None:
            await manager.handle_request(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async with manager.run():
            yield

    app = Starlette(routes=[Route("/mcp", endpoint=Endpoint())], lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
