"""The AWS calls a reviewer's request waits for, counted and put in order.

Deploys the stack into moto in this process (as the tests do), with stream records delivered in
the background as AWS delivers them (so a POST's time holds the review desk's own calls, not the
dispatcher's). Every AWS call a handler makes is held for ``--rtt-ms`` (a network round trip)
before moto answers it; the parameter caches are emptied before each request, so the SSM read of
the reviewer registry is counted too (the worst case: a container whose 5-second cache ran out).

For each kind of request it prints the calls (those started together in one bracket) and the
number of sequential round trips: the longest chain of calls each starting after the previous one
ended. With a 20 ms round trip, a request's time is about that number times 20 ms plus the
handler's own work.

Run:  python bench/decision_path.py [--rtt-ms 20] [--repeat 5]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUORUM_TYPE = {"quorum": 2, "risk": "medium", "parameters": {"type": "object"}}
HIDDEN = r'<input type="hidden" name="([^"]+)" value="([^"]*)">'


class Calls:
    """Every AWS call made while recording, as (operation, start, end); each held ``rtt`` seconds."""

    def __init__(self, rtt: float) -> None:
        self.rtt, self.on, self.made, self._lock = rtt, False, [], threading.Lock()
        self._open: dict[int, list] = {}

    def before(self, model=None, **_) -> None:
        mine = threading.current_thread() is threading.main_thread() or threading.current_thread().name.startswith("desk")
        if not self.on or not mine or model.name == "Invoke":   # the request's calls, not the workflow's nor
            return                                               # API Gateway's call of the function
        call = [f"{model.service_model.service_name}.{model.name}", time.perf_counter(), None]
        time.sleep(self.rtt)
        with self._lock:
            self.made.append(call)
            self._open[threading.get_ident()] = call

    def after(self, model=None, **_) -> None:
        with self._lock:
            call = self._open.pop(threading.get_ident(), None)
        if call is not None:
            call[2] = time.perf_counter()

    def rounds(self) -> int:
        """The longest chain of calls each starting after the one before it ended."""
        chain: list[tuple[float, int]] = []
        for _, start, end in sorted(self.made, key=lambda c: c[1]):
            depth = 1 + max((d for e, d in chain if e <= start), default=0)
            chain.append((end or start, depth))
        return max((d for _, d in chain), default=0)

    def shape(self) -> str:
        """The calls, those in flight together in one bracket: ``[a + b] → c``."""
        groups: list[list] = []
        for call in sorted(self.made, key=lambda c: c[1]):
            if groups and call[1] < max(c[2] or c[1] for c in groups[-1]):
                groups[-1].append(call)
            else:
                groups.append([call])
        return " → ".join(f"[{' + '.join(c[0] for c in g)}]" if len(g) > 1 else g[0][0] for g in groups)


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--rtt-ms", type=float, default=20, help="the round trip each AWS call is held for (20)")
    cli.add_argument("--repeat", type=int, default=5, help="requests of each kind (5)")
    args = cli.parse_args()
    calls = Calls(args.rtt_ms / 1000)
    os.environ.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"})
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    logging.disable(logging.CRITICAL)        # moto's interpreter logs every IsPresent miss of a Choice
    import warnings
    warnings.filterwarnings("ignore")
    from botocore import handlers
    handlers.BUILTIN_HANDLERS += [("before-call", calls.before), ("after-call", calls.after)]

    from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS
    from moto import mock_aws

    from countersign.sandbox import moto_patches
    from countersign.sandbox.harness import Harness
    from countersign.sandbox.synth import context, synthesize

    print("synthesizing and deploying into moto...", flush=True)
    policy = context()["policy"]
    policy = {**policy, "action_types": {**policy["action_types"], "bench.two_person": QUORUM_TYPE}}
    synthesized = synthesize(Path(tempfile.mkdtemp(prefix="countersign-bench-")),
                             {"policy": policy, "verdict_destinations": []})
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True},
                          "iam": {"load_aws_managed_policies": True}}):
        stack = Harness.deploy(synthesized)
        moto_patches.deliver_streams_in_background()
        desk = Desk(stack)

        def measure(label: str, request) -> None:
            walls, rounds, shapes = [], [], set()
            for _ in range(args.repeat):
                send = request()                      # everything up to the request itself
                for provider in DEFAULT_PROVIDERS.values():    # values, not clients: a cache that ran out
                    provider.clear_cache()
                calls.made.clear()
                calls.on = True
                began = time.perf_counter()
                status = send()
                walls.append((time.perf_counter() - began) * 1000)
                calls.on = False
                rounds.append(calls.rounds())
                shapes.add(calls.shape())
                assert status == 200, f"{label}: HTTP {status}"
            print(f"\n{label}\n  sequential AWS round trips: {max(rounds)}   (calls: {len(calls.made)}; "
                  f"p50 {statistics.median(walls):.0f} ms at {args.rtt_ms:g} ms a call)")
            for shape in sorted(shapes):
                print(f"  {shape}")

        print(f"\nA reviewer's requests, each AWS call held {args.rtt_ms:g} ms; {args.repeat} of each")
        measure("GET review page", lambda: desk.opened("refund.issue").get)
        measure("POST approve", lambda: desk.opened("refund.issue").post_of("approve"))
        measure("POST reject", lambda: desk.opened("refund.issue").post_of("reject"))
        measure("POST modify (answered with the confirm page; nothing recorded)",
                lambda: desk.opened("refund.issue").post_of("modify"))
        measure("POST modify, confirmed", lambda: desk.opened("refund.issue").confirmed_modify())
        measure("POST approve, one vote of a quorum of 2", lambda: desk.opened("bench.two_person").post_of("approve"))
    return 0


class Desk:
    """A reviewer with a fresh pending review of an action type, and the request to measure."""

    def __init__(self, stack) -> None:
        self.stack, self.link, self.page, self.n = stack, "", "", 0

    def opened(self, action_type: str) -> "Desk":
        self.n += 1
        parameters = {"customer_id": "1182", "amount": 420, "currency": "USD"} if action_type == "refund.issue" \
            else {"n": self.n}
        before = len(self._alice())
        self.stack.start({"schema_version": "1", "confidence": 0.5, "requested_by": "pipeline:bench",
                          "action": {"type": action_type, "summary": f"bench {self.n}", "parameters": parameters}},
                         f"bench-{self.n}-{int(time.time())}")
        deadline = time.monotonic() + 30
        while len(self._alice()) == before:
            if time.monotonic() > deadline:
                raise TimeoutError("no review email")
            time.sleep(0.02)
        self.link = self._alice()[-1].links[0]
        return self

    def _alice(self):
        return [e for e in self.stack.emails() if e.reviewer == "alice" and e.links]

    def get(self) -> int:
        return self.stack.http("GET", self.link).status

    def _form(self, decision: str) -> dict[str, str]:
        import html
        import re
        page = self.stack.http("GET", self.link).body
        form = {name: html.unescape(v) for name, v in re.findall(HIDDEN, page)}
        form["t"] = html.unescape(re.search(r'name="t" value="([^"]+)"', page).group(1))
        form.update(decision=decision, rationale="Checked." if decision == "approve" else "Wrong amount.")
        if decision != "approve":
            form["reason"] = "wrong_parameters" if decision == "modify" else "wrong_action"
        if decision == "modify":
            form["parameters"] = json.dumps({"customer_id": "1182", "amount": 400, "currency": "USD"})
        return form

    def _post(self, form: dict[str, str]):
        return self.stack.http("POST", self.link.split("?", 1)[0] + "/decision", body=urlencode(form),
                               headers={"Content-Type": "application/x-www-form-urlencoded"})

    def post_of(self, decision: str):
        form = self._form(decision)
        return lambda: self._post(form).status

    def confirmed_modify(self):
        import html
        import re
        confirm = self._post(self._form("modify")).body
        form = {name: html.unescape(v) for name, v in re.findall(HIDDEN, confirm)}
        return lambda: self._post(form).status


if __name__ == "__main__":
    sys.exit(main())
