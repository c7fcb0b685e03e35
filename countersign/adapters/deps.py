"""The adapters a workflow step or the review desk works with, handed in by the Lambda wiring
(``runtime.build_deps``) or by a test. Kept apart so importing it costs a handler nothing."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Deps:
    audit: Any          # audit.AuditStore
    audit_bucket: str = ""
    reviews: Any = None           # reviews.ReviewStore
    mac: Callable[[bytes], bytes] | None = None
    notifier: Any = None          # notify.Notifier
    callbacks: Any = None
    dead_letters: Any = None      # aws.SqsDeadLetters: stream batches the dispatcher gave up on
    load_policy: Callable[[], dict[str, Any]] | None = None
    load_kill_switch: Callable[[], str] = lambda: "off"     # routing.KILL_OFF
    reviewers: tuple[str, ...] = ()
    directory: dict[str, str] = field(default_factory=dict)   # reviewer id → email, to resolve a proposer
    principals: dict[str, list[str]] = field(default_factory=dict)   # reviewer id → IAM principal ARN patterns
    authenticated_only: bool = False   # refuse proposals that did not come through the authenticated submit path
    review_base_url: str = ""
    evidence_hosts: tuple[str, ...] = ()   # hosts an AI-written evidence URL may link to on the review page
    reviewer_identity: str = "id"      # how audit records name reviewers: id | pseudonym (read by Prepare)
    pseudonyms: Any = None             # identity.PseudonymLookup: pseudonym → id, outside the locked bucket
    clock: Callable[[], float] = time.time
    once: Callable[[str, Callable[[], Any]], None] = lambda key, effect: effect()   # side effects once per key


