"""The proposal for the commit that is checked out, byte for byte the same on every run.

The request job submits it; the deploy job rebuilds it and asks ``countersign status KEY
--proposal proposal.json``, which exits 4 unless the review is bound to exactly this content. So
everything here must be a pure function of the commit: no run id, no attempt number, no clock.

Environment: ``GITHUB_REPOSITORY`` or ``CI_PROJECT_PATH`` (set by the CI), and optionally
``COUNTERSIGN_ACTION_TYPE`` (default ``deploy.production``). Needs the commit's parent in the clone
(GitHub ``fetch-depth: 2``, GitLab ``GIT_DEPTH: 2``). Standard library only.
"""
from __future__ import annotations

import os
import re
import subprocess
from typing import Any

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"     # what a root commit is compared with
RISKY = ("migrations/", "infra/", "terraform/", ".github/", ".gitlab-ci.yml", "Dockerfile")


class ChangeError(RuntimeError):
    """The checkout cannot describe its change (no repository name, parent not fetched)."""


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout.strip()


def repository() -> str:
    name = os.environ.get("GITHUB_REPOSITORY") or os.environ.get("CI_PROJECT_PATH")
    if not name:
        raise ChangeError("set GITHUB_REPOSITORY or CI_PROJECT_PATH (the CI sets one of them)")
    return name


def key(repo: str, sha: str) -> str:
    """One review per repository and commit: a re-run joins it, a new commit opens a new one."""
    return f"deploy-{re.sub(r'[^A-Za-z0-9_-]', '-', repo)}-{sha}"


def changed_lines(sha: str) -> list[tuple[int, str]]:
    """(lines added + removed, path) for each file the commit changed against its first parent."""
    parents = [line.split()[1] for line in git("cat-file", "-p", sha).splitlines() if line.startswith("parent ")]
    base = parents[0] if parents else EMPTY_TREE
    if parents and subprocess.run(["git", "cat-file", "-e", f"{base}^{{commit}}"], capture_output=True).returncode:
        raise ChangeError(f"the parent of {sha} is not in this clone: fetch two commits "
                          "(GitHub: fetch-depth: 2; GitLab: GIT_DEPTH: 2)")
    changes = []
    for line in git("diff", "--numstat", "--no-renames", base, sha).splitlines():
        added, removed, path = line.split("\t", 2)
        changes.append((0 if added == "-" else int(added) + int(removed), path))   # "-": a binary file
    return changes


def assess(changes: list[tuple[int, str]]) -> tuple[float, str]:
    """Confidence and risk from the change itself: an example signal, to be replaced by your own
    (a code-review model's score, coverage, a canary), as long as it depends on the commit only."""
    lines = sum(n for n, _ in changes)
    risky = any(path.startswith(RISKY) or path in RISKY for _, path in changes)
    confidence = max(0.3, 0.95 - min(lines, 2000) / 4000 - (0.2 if risky else 0))
    return round(confidence, 2), "high" if risky else "medium"


def proposal() -> tuple[dict[str, Any], str]:
    """The proposal for HEAD and its idempotency key."""
    repo, sha = repository(), git("rev-parse", "HEAD")
    changes = changed_lines(sha)
    confidence, risk = assess(changes)
    paths = [path for _, path in changes]
    document = {
        "schema_version": "1",
        "action": {"type": os.environ.get("COUNTERSIGN_ACTION_TYPE", "deploy.production"),
                   "summary": f"Deploy {repo} {sha[:12]} to production",
                   "parameters": {"service": repo.rsplit("/", 1)[-1], "version": sha}},
        "confidence": confidence,
        "risk": risk,
        "reasoning": f"{len(paths)} file(s) and {sum(n for n, _ in changes)} line(s) changed"
                     + (f"; touches {', '.join(p for p in paths if p.startswith(RISKY) or p in RISKY)[:500]}"
                        if risk == "high" else ""),
        "evidence": [{"label": "commit", "value": sha},
                     {"label": "files", "value": ", ".join(paths)[:2000]}],
        "requested_by": f"ci:{repo}",
    }
    return document, key(repo, sha)
