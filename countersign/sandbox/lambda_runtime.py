"""In-process Lambda runtime for moto: every invoke moto makes (boto3 invoke, Step Functions
tasks, DynamoDB stream mappings) imports the function's handler and calls it here.

Like a Lambda container, each function gets its own instance of its handler module, initialised
(imported) with that function's environment variables under a lock, since ``os.environ`` is
process-wide. Handlers read their configuration at init, as Lambda handlers should. And like a
container, it serves one request at a time: concurrent invocations of one function take turns
(a handler's module state, such as Powertools' metrics buffer, is per container, not per
thread). A nested invocation of the same function on the same thread (a stream record
delivered from inside its consumer's own write, in the tests) goes ahead.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import traceback
import uuid
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_LOCK = threading.RLock()
_MODULES: dict[str, ModuleType] = {}
_SERVING: dict[str, threading.RLock] = {}      # function ARN -> its one container's turn
_METRICS: dict[str, type] = {}                # handler module name -> its container's Metrics class
BASE_ENV = {"POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING"}
# Extra variables per function name, e.g. the sandbox's own review URL.
ENV_OVERRIDES: dict[str, dict[str, str]] = {}


@contextmanager
def _environment(variables: dict[str, str]):
    """Set variables for the duration; restore exactly those (never clearing the environment,
    which other threads read while creating clients)."""
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update({k: str(v) for k, v in variables.items()})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _module_for(fn) -> ModuleType:
    module_path, _ = fn.handler.rsplit(".", 1)
    key = f"{fn.function_arn}:{module_path}"
    if key not in _MODULES:
        file = ROOT / (module_path.replace(".", "/") + ".py")
        name = f"_lambda_{fn.function_name.replace('-', '_')}_{module_path.replace('.', '_')}"
        spec = importlib.util.spec_from_file_location(name, file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        import aws_lambda_powertools

        shared = aws_lambda_powertools.Metrics
        aws_lambda_powertools.Metrics = _METRICS[name] = _container_metrics(shared)
        try:
            spec.loader.exec_module(module)
        finally:
            aws_lambda_powertools.Metrics = shared
        _MODULES[key] = module
    return _MODULES[key]


def _container_metrics(shared: type) -> type:
    """A ``Metrics`` of the container's own. Powertools keeps the metric buffer on the class, one per
    process, which on Lambda is one function's container; here every function shares the process,
    and one function's flush would print (or take) another's metrics."""
    return type("Metrics", (shared,), {"_metrics": {}, "_dimensions": {}, "_metadata": {}, "_default_dimensions": {}})


def _load(fn) -> ModuleType:
    env = {**BASE_ENV, **(fn.environment_vars or {}), **ENV_OVERRIDES.get(fn.function_name, {}),
           "AWS_LAMBDA_FUNCTION_NAME": fn.function_name, "_HANDLER": fn.handler}
    with _LOCK, _environment(env):   # init (import) runs with this function's environment
        return _module_for(fn)


def handler_module(function_name: str, account: str = "123456789012", region: str = "us-east-1") -> ModuleType:
    """The initialised handler module of a deployed function (its warm container), for tests that
    inject faults into the adapters it holds."""
    from moto.awslambda.models import lambda_backends

    return _load(lambda_backends[account][region].get_function(function_name))


def reset() -> None:
    """Forget initialised handlers (a new deployment gets cold starts)."""
    _MODULES.clear()


def invoke_in_process(fn, event: Any = None) -> tuple[str, bool, str]:
    """Replacement for ``moto.awslambda.models.LambdaFunction._invoke_lambda``."""
    if isinstance(event, (str, bytes)):
        event = json.loads(event or "{}")
    context = SimpleNamespace(
        function_name=fn.function_name, function_version="$LATEST", invoked_function_arn=fn.function_arn,
        memory_limit_in_mb=int(fn.memory_size or 128), aws_request_id=str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{fn.function_name}", log_stream_name="sandbox",
        get_remaining_time_in_millis=lambda: int(fn.timeout or 3) * 1000)
    try:
        module = _load(fn)
    except Exception as exc:
        return _failed(fn, exc)
    # The invocation holds only its own function's turn: in server mode a handler's AWS calls are
    # served by other threads that may invoke further functions (a DynamoDB stream's consumer, say).
    with _LOCK:
        turn = _SERVING.setdefault(fn.function_arn, threading.RLock())
    try:
        with turn:
            try:
                result = getattr(module, fn.handler.rsplit(".", 1)[1])(event, context)
            finally:
                _drop_unpublished_metrics(module)
    except Exception as exc:  # reported to the caller the way Lambda reports it
        return _failed(fn, exc)
    return json.dumps(result), False, ""


def _drop_unpublished_metrics(module: ModuleType) -> None:
    """With metrics off, Powertools' ``log_metrics`` neither prints nor clears the buffer: it would
    grow for the sandbox's whole life, and the first flush after a test turns metrics on would print
    every earlier invocation's values. Called in the function's turn, so it clears only its own."""
    metrics = _METRICS.get(module.__name__)
    if metrics is not None and os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() == "true":
        metrics._metrics.clear()
        metrics._metadata.clear()


def _failed(fn, exc: Exception) -> tuple[str, bool, str]:
    payload = {"errorType": type(exc).__name__, "errorMessage": str(exc),
               "stackTrace": traceback.format_exc().splitlines()}
    return json.dumps(payload), True, traceback.format_exc()
