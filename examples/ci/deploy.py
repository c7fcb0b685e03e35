"""Deploy the checked-out commit if, and only if, its own review approved it; deploy what was approved.

    python examples/ci/deploy.py                 # started by a verdict event: re-check, never trust it
    python examples/ci/deploy.py --wait 5h       # inline: submit (or join) and wait, within the job's limit

The verdict event only wakes this job. Whatever it says (``COUNTERSIGN_EXECUTION``, logged), the
job rebuilds ``proposal.json`` for the commit it checked out and asks ``countersign status KEY
--proposal proposal.json``: exit 4 unless that review is bound to exactly this content. Anyone who
can send the event can only make the job look; a newer commit on the branch has its own key, so
an older commit's late approval deploys nothing.

On approval (exit 0, a modified approval included, through ``--proceed-on-modified``) it checks
the verdict's signed receipt offline against the key pinned in the repository
(``COUNTERSIGN_RECEIPT_KEY``, default ``.countersign/receipts.pem``, exported once with
``countersign receipt public-key --out``): signed by that key, for exactly the final action, not
expired. Only then does it run ``DEPLOY_COMMAND`` (default ``./deploy.sh``) with the reviewed
``final_action``: its parameters as ``DEPLOY_SERVICE`` / ``DEPLOY_VERSION`` and the whole action in
the file ``$FINAL_ACTION``; never the proposal's own values. Otherwise it deploys nothing and exits
with countersign's code: 2 rejected, 3 expired, 4 invalid, not bound, or a receipt that does not
check out, 6 halted, 1 error or no pinned key; pending is 0 without ``--wait`` (nothing decided yet:
the event was about another review) and 5 with it.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import change

WHY = {2: "rejected, vetoed or reversed by a reviewer", 3: "expired: nobody decided in time",
       4: "invalid, or the review is not bound to this commit's proposal", 5: "not decided yet",
       6: "halted by the kill switch", 7: "modified", 1: "error"}


def check(key: str, wait: str | None) -> subprocess.CompletedProcess:
    if wait:
        command = ["countersign", "submit", "proposal.json", "--idempotency-key", key, "--wait", "--timeout", wait]
    else:
        command = ["countersign", "status", key, "--proposal", "proposal.json"]
    return subprocess.run([*command, "--proceed-on-modified", "--json"], capture_output=True, text=True)


def receipt_refusal(receipt: str | None) -> tuple[int, str] | None:
    """Why the verdict's receipt does not let this job deploy final-action.json, or None when it does."""
    key = Path(os.environ.get("COUNTERSIGN_RECEIPT_KEY", ".countersign/receipts.pem"))
    if not key.is_file():
        return 1, f"no pinned receipt key at {key} (export it once: countersign receipt public-key --out {key})"
    if not receipt:
        return 4, "the verdict carries no signed receipt"
    Path("receipt.jws").write_text(receipt + "\n", encoding="ascii")
    checked = subprocess.run(["countersign", "receipt", "verify", "receipt.jws", "--action", "final-action.json",
                              "--public-key", str(key)], capture_output=True, text=True)
    if checked.returncode != 0:
        return 4, f"the receipt does not check out (exit {checked.returncode}): {checked.stderr.strip()}"
    print(checked.stdout.strip())
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wait", metavar="DURATION", help="submit or join, and wait this long (e.g. 5h)")
    args = parser.parse_args(argv)
    proposal, key = change.proposal()
    if os.environ.get("COUNTERSIGN_EXECUTION"):
        print(f"woken by a verdict event naming {os.environ['COUNTERSIGN_EXECUTION']!r} (not trusted); "
              f"checking this commit's own review {key!r}")
    Path("proposal.json").write_text(json.dumps(proposal, indent=2, sort_keys=True) + "\n")
    done = check(key, args.wait)
    sys.stderr.write(done.stderr)
    verdict = json.loads(done.stdout or "{}")
    if done.returncode != 0:
        print(f"nothing deployed: {WHY.get(done.returncode, 'error')} (exit {done.returncode}) {json.dumps(verdict)}")
        return 0 if done.returncode == 5 and not args.wait else done.returncode
    action = verdict.get("final_action")
    if verdict.get("outcome") not in ("approved", "auto_approved", "modified") or not action \
            or action.get("type") != proposal["action"]["type"]:
        print(f"nothing deployed: the verdict does not approve a {proposal['action']['type']}: {json.dumps(verdict)}")
        return 1
    Path("final-action.json").write_text(json.dumps(action, indent=2, sort_keys=True) + "\n")
    refused = receipt_refusal(verdict.get("receipt"))
    if refused:
        print(f"nothing deployed: {refused[1]}")
        return refused[0]
    parameters = action["parameters"]
    print(f"{verdict['outcome']}: deploying {parameters['service']} {parameters['version']}"
          + (" (the reviewer's modification, not the proposal)" if verdict["outcome"] == "modified" else ""))
    environment = {**os.environ, "DEPLOY_SERVICE": str(parameters["service"]),
                   "DEPLOY_VERSION": str(parameters["version"]), "FINAL_ACTION": str(Path("final-action.json").resolve())}
    return subprocess.run(shlex.split(os.environ.get("DEPLOY_COMMAND", "./deploy.sh")), env=environment).returncode


if __name__ == "__main__":
    sys.exit(main())
