"""Step Functions cost per route, counted from real execution histories under moto.

Deploys the stack into moto exactly as tests/conftest.py does (synthesized with the tests'
TEST_CONTEXT, moto's Step Functions interpreter, in-process Lambdas), then runs one execution per
route: auto (confidence 0.97), approved, modified, rejected (decided through the review page, as
tests/helpers.decide does), expired (action type quick.timeout, 2 s review timeout) and refused
(an invalid proposal). For each it counts the state transitions in the execution history (events
whose type ends with "StateEntered"), reports the total number of history events, and prices the
route at $0.025 per 1,000 transitions (Standard workflows), as dollars per 1,000 proposals.
Targets: auto <= 4 transitions, human routes (approved, modified, rejected, expired) <= 8.
It only prints; exit 0.

Run:  python bench/cost.py
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                   "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                   "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"})
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_ENDPOINT_URL", None)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import TEST_CONTEXT  # noqa: E402
from tests.helpers import decide, proposal, review_link, unique  # noqa: E402

PRICE_PER_1000_TRANSITIONS = 0.025
TARGETS = {"auto": 4, "human": 8}
EDITED = json.dumps({"customer_id": "1182", "amount": 200, "currency": "USD"})
QUICK = {"type": "quick.timeout", "summary": "Anything", "parameters": {}}


def run_route(stack, route: str) -> tuple[str, dict]:
    """Start one execution for ``route``, drive it to its end like a user would; return (arn, describe)."""
    if route == "auto":
        arn = stack.start(proposal(confidence=0.97), unique(route))
    elif route in ("approved", "modified", "rejected"):
        arn = stack.start(proposal(), unique(route))
        link = review_link(stack, arn)
        decision = {"approved": "approve", "modified": "modify", "rejected": "reject"}[route]
        answer = decide(stack, link, decision, f"bench: {route}", EDITED if route == "modified" else None)
        if answer.status != 200:
            print(f"  ! {route}: review page answered {answer.status}")
    elif route == "expired":
        arn = stack.start(proposal(action=QUICK), unique(route))
        review_link(stack, arn)                       # the email went out; nobody answers it
    elif route == "refused":
        arn = stack.start(proposal(confidence=1.5), unique(route))
    else:
        raise ValueError(route)
    return arn, stack.wait(arn, timeout=30)


def main() -> int:
    from moto import mock_aws

    from countersign.sandbox.harness import Harness
    from countersign.sandbox.synth import synthesize

    mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True},
                            "iam": {"load_aws_managed_policies": True}})
    with tempfile.TemporaryDirectory(prefix="countersign-cdk.out-") as outdir:
        synthesized = synthesize(Path(outdir), TEST_CONTEXT)
        mock.start()
        try:
            stack = Harness.deploy(synthesized)
            rows = []
            for route in ("auto", "approved", "modified", "rejected", "expired", "refused"):
                arn, done = run_route(stack, route)
                history = stack.history(arn)
                entered = [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]
                outcome = json.loads(done["output"])["outcome"] if done.get("output") else done.get("error", "")
                rows.append((route, done["status"], outcome, len(entered), len(history), entered))
        finally:
            mock.stop()

    print(f"Step Functions cost per route (${PRICE_PER_1000_TRANSITIONS} per 1,000 state transitions)\n")
    header = f"{'route':<10}{'status / outcome':<38}{'transitions':>12}{'events':>8}{'$ per 1,000 proposals':>24}"
    print(header)
    print("-" * len(header))
    for route, status, outcome, transitions, events, _ in rows:
        dollars = transitions * PRICE_PER_1000_TRANSITIONS
        print(f"{route:<10}{status + ' / ' + outcome:<38}{transitions:>12}{events:>8}{dollars:>24.3f}")
    print("\nstates entered:")
    for route, *_, entered in rows:
        print(f"  {route:<10}{' -> '.join(entered)}")

    print()
    worst_human = max(r[3] for r in rows if r[0] in ("approved", "modified", "rejected", "expired"))
    auto = next(r[3] for r in rows if r[0] == "auto")
    for label, got, limit in (("auto", auto, TARGETS["auto"]), ("human routes (max)", worst_human, TARGETS["human"])):
        print(f"target {label}: {got} transitions <= {limit}? {'yes' if got <= limit else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
