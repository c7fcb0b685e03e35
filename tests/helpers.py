"""Test helpers: proposals, and a reviewer who reads an email and answers through the review page."""
from __future__ import annotations

import copy
import html
import importlib.util
import re
import uuid
from typing import Any

REFUND = {
    "schema_version": "1",
    "action": {"type": "refund.issue", "summary": "Refund $420 to customer 1182",
               "parameters": {"customer_id": "1182", "amount": 420, "currency": "USD"}},
    "confidence": 0.72,
    "risk": "medium",          # so that confidence alone routes it (risk and reversibility have their own tests)
    "reversible": True,
    "reasoning": "Duplicate charge on 2026-11-20 matches order 5531.",
    "evidence": [{"label": "order", "value": "5531", "url": "https://shop.example/orders/5531"}],
    "model": {"id": "refund-agent", "version": "2026.11.2"},
    "requested_by": "pipeline:billing#512",
}


def proposal(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(REFUND)
    for key, value in changes.items():
        doc[key] = value
    return doc


_HOMES: list[str] = []


def ctrl_c_works() -> None:
    """``preexec_fn`` for a subprocess a test stops with SIGINT: a shell's background job starts
    with SIGINT ignored, a child inherits that, and Python then installs no KeyboardInterrupt
    handler; a person's terminal delivers Ctrl-C with the default disposition."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def newcomer_env(**extra: str) -> dict[str, str]:
    """The environment of a person with no AWS configuration at all: no ``AWS_*`` variables and an
    empty HOME (no ~/.aws). Every subprocess a test starts runs in it. The HOMEs are removed when
    the test session ends: a synth in one caches the jsii runtime there (about 200 MB)."""
    import atexit
    import os
    import shutil
    import tempfile

    if not _HOMES:
        atexit.register(lambda: [shutil.rmtree(home, ignore_errors=True) for home in _HOMES])
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    _HOMES.append(tempfile.mkdtemp(prefix="countersign-home-"))
    return {**env, "HOME": _HOMES[-1], **extra}


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def form_token(page: str) -> str:
    found = re.search(r'name="t" value="([^"]+)"', page)
    assert found, "the review page has no decision form"
    return html.unescape(found.group(1))


def hidden_fields(page: str) -> dict[str, str]:
    """The form's hidden inputs (the link token, the signed rendering stamp), as a browser sends them."""
    return {name: html.unescape(value)
            for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)}


# the reason category a test reviewer chooses to modify or reject (the form requires one)
REASONS = {"modify": "wrong_parameters", "reject": "wrong_action"}


def decide(stack, link: str, decision: str, rationale: str = "", parameters: str | None = None,
           reason: str | None = None):
    """What a reviewer does: open the link (GET), then submit the page's form (POST)."""
    page = stack.http("GET", link)
    assert page.status == 200, page.body
    form = {**hidden_fields(page.body), "t": form_token(page.body), "decision": decision, "rationale": rationale,
            "reason": REASONS.get(decision, "") if reason is None else reason}
    if parameters is not None:
        form["parameters"] = parameters
    return confirmed(lambda fields: stack.http("POST", decision_url(link), fields), form)


def confirmed(post, form: dict[str, str]):
    """POST a decision form; a modification's confirm page is then confirmed exactly as shown (its
    form's hidden fields), as the reviewer does. ``post(fields)`` returns an answer with ``body``."""
    answer = post(form)
    if form.get("decision") == "modify" and 'name="shown"' in answer.body:
        return post(hidden_fields(answer.body))
    return answer


def decision_url(link: str) -> str:
    return link.split("?", 1)[0] + "/decision"


def review_link(stack, execution_arn: str, reviewer: str = "alice") -> str:
    """Wait for the reviewer's email about this execution and return the link in it."""
    review_id = review_id_of(stack, execution_arn)
    email = stack.wait_for_email(reviewer, review_id)
    assert len(email.links) == 1
    return email.links[0]


def review_id_of(stack, execution_arn: str, timeout: float = 10) -> str:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in stack.execution_records(execution_arn):
            if record["event"] == "review_requested":
                return record["review_id"]
        time.sleep(0.02)
    raise TimeoutError("no review_requested record")


def load_example(path) -> Any:
    """A script under examples/ loaded as a module (its name is the file's stem)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
