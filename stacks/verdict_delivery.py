"""Verdict delivery: when a gate's execution ends, tell the pipelines waiting on it.

Step Functions announces every status change of a Standard workflow on the default event bus
(``"Step Functions Execution Status Change"``, source ``aws.states``). One rule per configured
pipeline forwards the end of an execution (SUCCEEDED, FAILED, TIMED_OUT, ABORTED) to an
EventBridge API destination: a GitHub ``repository_dispatch`` or a GitLab pipeline trigger. So a
wait longer than a CI job can live holds no runner: the deploy job starts when the decision does.

The request carries the execution's ARN, name and status only: no proposal, no verdict, no task
token (the input transformer picks those three fields). The receiving job trusts none of it; it
re-reads the verdict with ``countersign status KEY --proposal FILE``. Credentials come from
Secrets Manager (CloudFormation dynamic references), never from the template.
"""
from __future__ import annotations

from aws_cdk import Duration, SecretValue
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

EVENT_TYPE = "countersign-verdict"      # the repository_dispatch event type a GitHub workflow listens for
ENDED = ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]   # a halted or refused proposal FAILs: announced too
GITHUB_API = "https://api.github.com"


class VerdictDelivery(Construct):
    def __init__(self, scope: Construct, cid: str, *, state_machine: sfn.IStateMachine,
                 destinations: tuple[dict[str, str], ...]) -> None:
        super().__init__(scope, cid)
        # Events that still fail after the retries (a revoked token, GitHub down for a day) land here.
        self.dead_letters = sqs.Queue(self, "DeadLetters", encryption=sqs.QueueEncryption.SQS_MANAGED,
                                      enforce_ssl=True, retention_period=Duration.days(14))
        self.rules: list[events.Rule] = []
        execution = {"arn": events.EventField.from_path("$.detail.executionArn"),
                     "name": events.EventField.from_path("$.detail.name"),
                     "status": events.EventField.from_path("$.detail.status")}
        for spec in destinations:
            endpoint, connection, body = (_github if spec["kind"] == "github" else _gitlab)(self, spec, execution)
            destination = events.ApiDestination(
                self, f"{spec['name']}Destination", connection=connection, endpoint=endpoint,
                http_method=events.HttpMethod.POST, rate_limit_per_second=10,
                description=f"Countersign verdicts to {spec['kind']} ({spec['name']})")
            detail = {"stateMachineArn": [state_machine.state_machine_arn], "status": ENDED}
            if spec.get("prefix"):        # only the executions this pipeline started (its idempotency keys)
                detail["name"] = events.Match.prefix(spec["prefix"])
            self.rules.append(events.Rule(
                self, f"{spec['name']}Rule", description=f"Countersign: announce ended executions to {spec['name']}",
                event_pattern=events.EventPattern(source=["aws.states"],
                                                  detail_type=["Step Functions Execution Status Change"],
                                                  detail=detail),
                targets=[targets.ApiDestination(destination, event=events.RuleTargetInput.from_object(body),
                                                dead_letter_queue=self.dead_letters, retry_attempts=24,
                                                max_event_age=Duration.hours(24))]))


def _github(scope: Construct, spec: dict[str, str], execution: dict[str, str]):
    """POST /repos/OWNER/REPO/dispatches; the secret holds the whole header value, ``Bearer <token>``."""
    connection = events.Connection(
        scope, f"{spec['name']}Connection", description=f"GitHub {spec['repository']}: repository_dispatch",
        authorization=events.Authorization.api_key("Authorization", SecretValue.secrets_manager(spec["secret"])),
        header_parameters={"Accept": events.HttpParameter.from_string("application/vnd.github+json"),
                           "X-GitHub-Api-Version": events.HttpParameter.from_string("2022-11-28")})
    body = {"event_type": EVENT_TYPE, "client_payload": {
        "execution_arn": execution["arn"], "execution_name": execution["name"], "status": execution["status"]}}
    return f"{GITHUB_API}/repos/{spec['repository']}/dispatches", connection, body


def _gitlab(scope: Construct, spec: dict[str, str], execution: dict[str, str]):
    """POST /api/v4/projects/ID/trigger/pipeline; the secret holds the trigger token, sent as the
    ``token`` body parameter (never in the URL). A connection must have an authorization; GitLab reads
    none for triggers, so it is a fixed, non-secret header."""
    connection = events.Connection(
        scope, f"{spec['name']}Connection", description=f"GitLab project {spec['project']}: pipeline trigger",
        authorization=events.Authorization.api_key("Countersign-Delivery", SecretValue.unsafe_plain_text("verdict")),
        body_parameters={"token": events.HttpParameter.from_secret(SecretValue.secrets_manager(spec["secret"]))})
    body = {"ref": spec["ref"], "variables": {"COUNTERSIGN_EXECUTION": execution["name"],
                                              "COUNTERSIGN_STATUS": execution["status"]}}
    return f"{spec['url']}/api/v4/projects/{spec['project']}/trigger/pipeline", connection, body
