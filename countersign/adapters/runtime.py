"""Wiring for Lambda: build the adapters a handler needs from its environment, once, at init.

Environment: AUDIT_BUCKET, REVIEWS_TABLE, LINK_KEY_ID, TOPIC_ARN, POLICY_PARAMETER, KILL_SWITCH_PARAMETER,
REVIEWERS (comma-separated ids), DEAD_LETTERS_URL, SUBMIT_AUTHENTICATED_ONLY (true|false), REVIEW_BASE_URL,
EVIDENCE_HOSTS (JSON list), DIGEST_MINUTES (0, or the digest interval of ``notify: digest``),
AUDIT_REVIEWER_IDENTITY (id|pseudonym; pseudonym also needs REVIEWS_TABLE, for the lookup), REGISTRY_PARAMETER
and REGISTRY_CACHE_SECONDS (the reviewer registry in SSM: roles, authority, active, emails and IAM principals),
CALIBRATOR_PRINCIPAL (the calibrator's role ARN), STATE_MACHINE_ARN (for the calibrator), EVENT_BUS_NAME,
RECEIPT_KEY_ID and RECEIPT_VALID_HOURS (the key that signs decision receipts, and how long one is valid).
Only the clients a handler asks for are made.
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable

import boto3

from countersign.adapters.aws import (DynamoPseudonyms, DynamoReviewStore, S3AuditStore, SnsNotifier,
                                     StepFunctionsCallbacks, kms_digest_signer, kms_mac)
from countersign.adapters.calibrator import DynamoAutonomy, StepFunctionsGate
from countersign.adapters.messages import EventBridgeEvents, SqsDeadLetters
from countersign.adapters.deps import Deps
from countersign.evidence.identity import check_mode


def _policy_loader():
    from aws_lambda_powertools.utilities import parameters

    name = os.environ["POLICY_PARAMETER"]
    max_age = int(os.environ.get("POLICY_CACHE_SECONDS", "60"))
    return lambda: parameters.get_parameter(name, transform="json", max_age=max_age)


def _registry_loader():
    from aws_lambda_powertools.utilities import parameters

    from countersign.review.registry import parse

    name = os.environ["REGISTRY_PARAMETER"]
    max_age = int(os.environ.get("REGISTRY_CACHE_SECONDS", "5"))
    # deactivating a reviewer must act within seconds; an unreadable registry fails closed (500)
    return lambda: parse(parameters.get_parameter(name, transform="json", max_age=max_age, force_fetch=max_age == 0))


def _kill_switch_loader():
    from aws_lambda_powertools.utilities import parameters

    name = os.environ["KILL_SWITCH_PARAMETER"]
    max_age = int(os.environ.get("KILL_SWITCH_CACHE_SECONDS", "5"))
    # a stop button must act within seconds; reading it fails closed (the step errors)
    return lambda: parameters.get_parameter(name, max_age=max_age, force_fetch=max_age == 0)


class Once:
    """Run a side effect at most once per key, across a step's retries and containers: Powertools
    Idempotency with its records in the reviews table (removed by the table's TTL). Built on
    first use, so a handler's cold start does not pay for it."""

    def __init__(self, ddb: Any, table: str) -> None:
        self.ddb, self.table, self.context = ddb, table, None
        self.work: dict[str, Callable[[], Any]] = {}
        self._run: Callable[..., Any] | None = None

    def register(self, context: Any) -> None:
        """The invocation's context, so an in-progress record expires with the invocation."""
        self.context = context

    def _build(self) -> Callable[..., Any]:
        from aws_lambda_powertools.utilities.idempotency import (DynamoDBPersistenceLayer, IdempotencyConfig,
                                                                 idempotent_function)

        store = DynamoDBPersistenceLayer(table_name=self.table, boto3_client=self.ddb, key_attr="pk",
                                         sort_key_attr="sk", static_pk_value="IDEMPOTENCY#side-effects",
                                         expiry_attr="expires_at")
        self.config = IdempotencyConfig(event_key_jmespath="key", expires_after_seconds=86400)

        @idempotent_function(data_keyword_argument="job", config=self.config, persistence_store=store)
        def run(job: dict) -> dict:
            self.work[job["key"]]()
            return {"done": job["key"]}
        return run

    def __call__(self, key: str, effect: Callable[[], Any]) -> None:
        if self._run is None:
            self._run = self._build()
        if self.context is not None:
            self.config.register_lambda_context(self.context)
        self.work[key] = effect
        try:
            self._run(job={"key": key})
        finally:
            self.work.pop(key, None)


def build_deps(*needs: str) -> Deps:
    """``needs`` is a subset of: reviews, links, notify, callbacks, events, dead_letters, policy, kill_switch,
    registry, autonomy, gate, receipts (audit is always made)."""
    env = os.environ
    extra: dict[str, Any] = {}
    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        """One client per service, shared by the adapters that need it (a cold start makes each once)."""
        if service not in made:
            made[service] = boto3.client(service)
        return made[service]

    if "reviews" in needs:
        extra["reviews"] = DynamoReviewStore(client("dynamodb"), env["REVIEWS_TABLE"])
    if "links" in needs:
        extra["mac"] = kms_mac(client("kms"), env["LINK_KEY_ID"])
    if "notify" in needs:
        extra["notifier"] = SnsNotifier(client("sns"), env["TOPIC_ARN"])
        extra["once"] = Once(client("dynamodb"), env["REVIEWS_TABLE"])   # the email idempotency records
    if "callbacks" in needs:
        extra["callbacks"] = StepFunctionsCallbacks(client("stepfunctions"))
    if "events" in needs:
        extra["events"] = EventBridgeEvents(client("events"), env["EVENT_BUS_NAME"])
    if "dead_letters" in needs:
        extra["dead_letters"] = SqsDeadLetters(client("sqs"), env["DEAD_LETTERS_URL"])
    if "policy" in needs:
        extra["load_policy"] = _policy_loader()
    if "registry" in needs:
        extra["load_registry"] = _registry_loader()
    if "kill_switch" in needs:
        extra["load_kill_switch"] = _kill_switch_loader()
    if "autonomy" in needs:
        extra["autonomy"] = DynamoAutonomy(client("dynamodb"), env["REVIEWS_TABLE"])
    if "gate" in needs:
        extra["start_gate"] = StepFunctionsGate(client("stepfunctions"), env["STATE_MACHINE_ARN"],
                                                env["CALIBRATOR_PRINCIPAL"])
    if "receipts" in needs:                          # Conclude only: the others do not import it
        from countersign.evidence.receipts import Issuer

        extra["receipts"] = Issuer(env["RECEIPT_KEY_ID"], kms_digest_signer(client("kms"), env["RECEIPT_KEY_ID"]),
                                   int(env["RECEIPT_VALID_HOURS"]))
    identity = check_mode(env.get("AUDIT_REVIEWER_IDENTITY") or "id")
    if identity == "pseudonym":
        if not env.get("REVIEWS_TABLE"):
            raise RuntimeError("AUDIT_REVIEWER_IDENTITY=pseudonym needs REVIEWS_TABLE for the pseudonym lookup")
        extra["pseudonyms"] = DynamoPseudonyms(client("dynamodb"), env["REVIEWS_TABLE"])
    return Deps(
        audit=S3AuditStore(client("s3"), env["AUDIT_BUCKET"]),
        audit_bucket=env["AUDIT_BUCKET"],
        reviewers=tuple(r for r in env.get("REVIEWERS", "").split(",") if r),
        authenticated_only=env.get("SUBMIT_AUTHENTICATED_ONLY", "false") == "true",
        review_base_url=env.get("REVIEW_BASE_URL", ""),
        evidence_hosts=tuple(json.loads(env.get("EVIDENCE_HOSTS") or "[]")),
        digest_seconds=60 * int(env.get("DIGEST_MINUTES") or 0),
        reviewer_identity=identity,
        calibrator=env.get("CALIBRATOR_PRINCIPAL") or None,
        **extra,
    )
