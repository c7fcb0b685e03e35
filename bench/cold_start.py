"""Cold-start import cost of each Lambda handler module, against a bare-boto3 baseline.

For every handler in lambdas/ (prepare, request_review, conclude, dispatcher, reconciler, reminders,
review_api) this times ``import lambdas.<name>`` in a fresh interpreter (a subprocess per run), with the env vars a
deployed handler gets and fake credentials. Importing builds the handler's boto3 clients at module
level; that is intended and counted as part of the cold start.

The baseline, also in a fresh interpreter, is ``import boto3`` plus creating the same clients the
handler creates at import, derived from its ``build_deps(...)`` arguments: s3 always (audit),
reviews -> dynamodb, links and receipts -> kms, notify -> sns, callbacks -> stepfunctions, executor -> lambda. "policy" adds no
client at import (Powertools parameters creates its ssm client lazily, at first call).

Each measurement is repeated N times (handler and baseline interleaved) and the median is
reported with the ratio handler/baseline; the target is ratio <= 1.25. It only prints; exit 0.
Children inherit the caller's environment minus AWS_* and PYTHONPATH. The repo's own modules are
compiled from source on every run, as on Lambda, whose asset ships no .pyc: the script removes their
__pycache__ folders first and runs the children with PYTHONDONTWRITEBYTECODE=1 (installed packages
keep their .pyc, as the runtime's boto3 and the Powertools layer do).

Run:  python bench/cold_start.py [--runs 15]
"""
from __future__ import annotations

import argparse
import ast
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANDLERS = tuple(sorted(p.stem for p in (ROOT / "lambdas").glob("*.py") if p.stem != "__init__"))
# build_deps needs -> the boto3 service each creates at init (runtime.build_deps); the parameter
# loaders (policy, registry, kill switch) create theirs on first use
CLIENTS = {"reviews": "dynamodb", "links": "kms", "notify": "sns", "callbacks": "stepfunctions",
           "events": "events", "dead_letters": "sqs", "autonomy": "dynamodb", "gate": "stepfunctions",
           "receipts": "kms"}
TARGET = 1.25

ENV = {
    "AUDIT_BUCKET": "bench-audit", "REVIEWS_TABLE": "bench-reviews",
    "LINK_KEY_ID": "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
    "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:bench-reviews",
    "POLICY_PARAMETER": "/countersign/bench/policy", "REVIEWERS": "alice,bob",
    "KILL_SWITCH_PARAMETER": "/countersign/bench/kill-switch", "DISPATCHER_TIMEOUT_SECONDS": "30",
    "REGISTRY_PARAMETER": "/countersign/bench/reviewers",
    "RECEIPT_KEY_ID": "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000001",
    "RECEIPT_VALID_HOURS": "24", "EVENT_BUS_NAME": "default",
    "DIGEST_KEY_ID": "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000002",
    "DEAD_LETTERS_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/bench-dispatch-dlq",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:bench-gate",
    "CALIBRATOR_PRINCIPAL": "arn:aws:iam::123456789012:role/bench-calibrator",
    "REVIEW_BASE_URL": "https://review.example/", "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_SERVICE_NAME": "countersign", "POWERTOOLS_METRICS_NAMESPACE": "Countersign",
}


def clients_of(handler: str) -> list[str]:
    """The boto3 clients lambdas/<handler>.py creates at init: from the string arguments of its
    module-level build_deps(...) call, or its own boto3.client("...") calls; one per service."""
    tree = ast.parse((ROOT / "lambdas" / f"{handler}.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    for node in calls:
        if getattr(node.func, "id", None) == "build_deps":
            needs = [a.value for a in node.args if isinstance(a, ast.Constant)]
            return list(dict.fromkeys([CLIENTS[n] for n in needs if n in CLIENTS] + ["s3"]))
    return list(dict.fromkeys(n.args[0].value for n in calls if getattr(n.func, "attr", None) == "client"
                              and n.args and isinstance(n.args[0], ast.Constant)))


def timed(body: str) -> float:
    """Seconds reported by ``body`` (which sets t and prints perf_counter()-t) in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "PYTHONPATH"}
    env.update(ENV, PYTHONDONTWRITEBYTECODE="1")
    code = f"import time; t=time.perf_counter(); {body}; print(time.perf_counter()-t)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per measurement (default 15)")
    runs = parser.parse_args().runs
    for cache in [p for package in ("countersign", "lambdas") for p in (ROOT / package).rglob("__pycache__")]:
        shutil.rmtree(cache)

    print(f"cold start: import in a fresh interpreter, median of {runs} runs; target ratio <= {TARGET}")
    print(f"python {sys.version.split()[0]} ({sys.executable})\n")
    header = f"{'handler':<16}{'clients':<32}{'median ms':>10}{'baseline ms':>13}{'ratio':>8}  target"
    print(header)
    print("-" * len(header))
    worst = ("", 0.0)
    for handler in HANDLERS:
        clients = clients_of(handler)
        baseline_body = "import boto3; " + "; ".join(f"boto3.client({c!r})" for c in clients)
        mine, base = [], []
        for _ in range(runs):
            mine.append(timed(f"import lambdas.{handler}"))
            base.append(timed(baseline_body))
        m, b = statistics.median(mine) * 1000, statistics.median(base) * 1000
        ratio = m / b
        worst = max(worst, (handler, ratio), key=lambda w: w[1])
        print(f"{handler:<16}{','.join(clients):<32}{m:>10.1f}{b:>13.1f}{ratio:>8.2f}  "
              f"{'ok' if ratio <= TARGET else 'OVER'}")
    print(f"\nworst ratio: {worst[1]:.2f} ({worst[0]}) -> {'meets' if worst[1] <= TARGET else 'misses'} "
          f"the <= {TARGET} target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
