"""The adapters a workflow step or the review desk works with, handed in by the Lambda wiring
(``runtime.build_deps``) or by a test. Kept apart so importing it costs a handler nothing."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable


@dataclass
class Deps:
    audit: Any          # audit.AuditStore
    audit_bucket: str = ""
    reviews: Any = None           # reviews.ReviewStore
    mac: Callable[[bytes], bytes] | None = None
    notifier: Any = None          # notify.Notifier
    callbacks: Any = None
    events: Any = None            # messages.EventBridgeEvents: announce reviews, decisions, verdicts (None: not at all)
    dead_letters: Any = None      # messages.SqsDeadLetters: stream batches the dispatcher gave up on
    load_policy: Callable[[], dict[str, Any]] | None = None
    load_kill_switch: Callable[[], str] = lambda: "off"     # routing.KILL_OFF
    load_registry: Callable[[], Any] | None = None          # registry.Registry, read at every use (SSM, cached)
    reviewers: tuple[str, ...] = ()
    authenticated_only: bool = False   # refuse proposals that did not come through the authenticated submit path
    review_base_url: str = ""
    evidence_hosts: tuple[str, ...] = ()   # hosts an AI-written evidence URL may link to on the review page
    digest_seconds: int = 0            # notify=digest: the digest interval (0: each review is emailed at once)
    reviewer_identity: str = "id"      # how audit records name reviewers: id | pseudonym (read by Prepare)
    pseudonyms: Any = None             # identity.PseudonymLookup: pseudonym → id, outside the locked bucket
    autonomy: Any = None               # calibrator.DynamoAutonomy: the adjustments beside the deployed policy
    calibrator: str | None = None      # the calibrator's IAM role ARN: the one submitter of policy.autonomy
    start_gate: Callable[[dict[str, Any]], str] | None = None   # start a gate execution (the calibrator's proposals)
    receipts: Any = None               # receipts.Issuer: signs the receipt of a verdict that lets an action proceed
    clock: Callable[[], float] = time.time
    once: Callable[[str, Callable[[], Any]], None] = lambda key, effect: effect()   # side effects once per key


