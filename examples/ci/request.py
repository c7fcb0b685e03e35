"""Ask for a review of the checked-out commit, and end: no runner waits for the reviewer.

    python examples/ci/request.py

Writes ``proposal.json`` and submits it with ``countersign submit --idempotency-key KEY`` (no
``--wait``). A re-run of the job joins the review already open for this commit (same key, same
content); the verdict starts the deploy job (``verdict_destinations``). Exit 0 once the review is
requested or joined; otherwise countersign's code (4: invalid, or the key was used for other content).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import change


def main() -> int:
    proposal, key = change.proposal()
    Path("proposal.json").write_text(json.dumps(proposal, indent=2, sort_keys=True) + "\n")
    done = subprocess.run(["countersign", "submit", "proposal.json", "--idempotency-key", key, "--json"],
                          capture_output=True, text=True)
    sys.stderr.write(done.stderr)
    answer = json.loads(done.stdout or "{}")
    if done.returncode != 5:           # 5 = pending: submitted, or joined without waiting
        print(f"countersign refused the request (exit {done.returncode}): {json.dumps(answer)}")
        return done.returncode or 1
    verb = "requested" if answer.get("started") else "already requested (joined)"
    print(f"review {verb}: key {key}\nexecution {answer['executionArn']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
