"""A deployed Countersign stack in moto, with the operations a pipeline, a reviewer's mailbox and
an auditor use: start executions, read the emails SNS sent, open links, read the audit trail."""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import boto3

from countersign.adapters.aws import S3AuditStore
from countersign.sandbox import lambda_runtime, moto_patches
from countersign.sandbox.api_gateway import HttpResponse, Route, request, routes
from countersign.sandbox.deploy import Deployment, deploy

LINK = re.compile(r"https?://\S+/reviews/\S+")
INBOX = re.compile(r"https?://\S+/inbox\?t=\S+")
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


@dataclass(frozen=True)
class Email:
    to: str
    reviewer: str
    subject: str
    body: str
    links: list[str]
    sent_at: float
    inbox: str | None = None      # the reviewer's inbox link, when the email carries one


class Harness:
    def __init__(self, deployment: Deployment, review_base_url: str, region: str = "us-east-1") -> None:
        self.deployment, self.review_base_url, self.region = deployment, review_base_url.rstrip("/"), region
        self.routes: list[Route] = routes(deployment)
        self.sfn = boto3.client("stepfunctions", region_name=region)
        self.s3 = boto3.client("s3", region_name=region)
        out = deployment.outputs
        out.setdefault("ReviewApiUrl", self.review_base_url + "/")
        self.state_machine_arn = out["StateMachineArn"]
        self.audit_bucket = out["AuditBucketName"]
        self.table = out["ReviewsTableName"]
        self.topic_arn = out["ReviewTopicArn"]
        self.audit = S3AuditStore(self.s3, self.audit_bucket)

    @classmethod
    def deploy(cls, synthesized, review_base_url: str = "http://127.0.0.1:8000") -> "Harness":
        moto_patches.apply()
        lambda_runtime.reset()
        deployment = deploy(synthesized.template, synthesized.outdir, api_url=review_base_url.rstrip("/") + "/")
        for logical, res in deployment.template["Resources"].items():
            env = res.get("Properties", {}).get("Environment", {}).get("Variables", {})
            if res["Type"] == "AWS::Lambda::Function" and "REVIEW_BASE_URL" in env:
                lambda_runtime.ENV_OVERRIDES[deployment.resources[logical]] = {"REVIEW_BASE_URL": review_base_url}
        return cls(deployment, review_base_url)

    # pipeline side ---------------------------------------------------------------------------
    def start(self, proposal: dict[str, Any], name: str) -> str:
        return self.sfn.start_execution(stateMachineArn=self.state_machine_arn, name=name,
                                        input=json.dumps(proposal))["executionArn"]

    def wait(self, execution_arn: str, timeout: float = 15, until: tuple[str, ...] = TERMINAL) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.sfn.describe_execution(executionArn=execution_arn)
            if got["status"] in until or time.monotonic() > deadline:
                return got
            time.sleep(0.02)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]

    def states_entered(self, execution_arn: str) -> list[str]:
        return [e["stateEnteredEventDetails"]["name"] for e in self.history(execution_arn)
                if e["type"].endswith("StateEntered")]

    # reviewer side ---------------------------------------------------------------------------
    def emails(self) -> list[Email]:
        from moto.sns.models import sns_backends

        backend = sns_backends[boto3.client("sts").get_caller_identity()["Account"]][self.region]
        addresses = {}
        for sub in backend.list_subscriptions_by_topic(self.topic_arn)[0]:
            policy = json.loads(sub.attributes.get("FilterPolicy") or "{}")
            for reviewer in policy.get("reviewer", []):
                addresses[reviewer] = sub.endpoint
        found = []
        for message_id, body, subject, attributes, _group in backend.topics[self.topic_arn].sent_notifications:
            reviewer = (attributes or {}).get("reviewer", {}).get("Value", "")
            inbox = INBOX.search(body)
            found.append(Email(addresses.get(reviewer, ""), reviewer, subject or "", body, LINK.findall(body),
                               moto_patches.SENT_AT.get(message_id, 0.0), inbox.group() if inbox else None))
        return found

    def wait_for_email(self, reviewer: str, containing: str, timeout: float = 10) -> Email:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for email in self.emails():
                if email.reviewer == reviewer and containing in email.body:
                    return email
            time.sleep(0.02)
        raise TimeoutError(f"no email for {reviewer} containing {containing!r}")

    def http(self, method: str, url: str, form: dict[str, str] | None = None, *, body: str | None = None,
             headers: dict[str, str] | None = None) -> HttpResponse:
        """One request as an HTTP client sends it (with its ``Host``); a ``form`` is url-encoded,
        a raw ``body`` is sent as it is, with the ``headers`` given."""
        parts = urlsplit(url)
        sent = {"Host": parts.netloc}
        if form is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        sent.update(headers or {})
        payload = urlencode(form) if form is not None else body or ""
        return request(self.routes, method, parts.path, dict(parse_qsl(parts.query)), payload, sent)

    # auditor side ----------------------------------------------------------------------------
    def audit_records(self, prefix: str) -> list[dict[str, Any]]:
        return self.read(sorted(self.audit.list_keys(prefix)))

    def execution_records(self, execution_arn: str) -> list[dict[str, Any]]:
        name = execution_arn.rsplit(":", 1)[1]
        return self.read(sorted(k for k in self.audit.list_keys("executions/") if f"/{name}/" in k))

    def read(self, keys: list[str]) -> list[dict[str, Any]]:
        return [json.loads(self.audit.get(k)) for k in keys]
