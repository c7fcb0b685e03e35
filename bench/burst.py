"""A burst on one review: N reviewers' page views and N decision POSTs, all in flight at once.

Used by ``bench/sandbox.py --burst N``: what a user load-testing the sandbox would do. Prints
how many requests were answered (never reset), the latency percentiles, and how many decisions
won (one: the rest are answered 409, or 200 for an identical retry of the winning decision).
"""
from __future__ import annotations

import collections
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlencode, urlsplit


def _timed(request) -> tuple[int, float]:
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as got:
            got.read()
            status = got.status
    except urllib.error.HTTPError as answered:
        status = answered.code
    except OSError:          # reset, refused or timed out: not an answer
        status = -1
    return status, (time.perf_counter() - began) * 1000


def burst(driver, count: int) -> dict:
    """``driver`` is bench/sandbox.py's Driver (a pipeline's and a reviewer's operations)."""
    marker = f"burst-{uuid.uuid4().hex[:8]}"
    driver.start(marker)
    links: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while len(links) < 2 and time.monotonic() < deadline:
        for who in ("alice", "bob"):
            links.update({who: link for m, link in driver.links(driver.outbox(), who).items() if m == marker})
        time.sleep(0.05)

    def click(i: int):
        link = links["alice" if i % 2 else "bob"]
        body = urlencode({"t": parse_qs(urlsplit(link).query)["t"][0], "decision": "approve" if i % 2 else "reject",
                          "rationale": f"burst {i}", "reason": "" if i % 2 else "wrong_action"}).encode()
        return _timed(urllib.request.Request(link.split("?", 1)[0] + "/decision", data=body))

    with ThreadPoolExecutor(max_workers=count) as pool:
        views = list(pool.map(lambda i: _timed(links["alice" if i % 2 else "bob"]), range(count)))
        posts = list(pool.map(click, range(count)))
    return {"views": views, "posts": posts, "codes": collections.Counter(s for s, _ in views + posts)}
