"""cdk-nag acknowledgments: each names the finding, where it applies, and why it is accepted.

Everything not listed here fails ``cdk synth``. Granular IAM5 findings are acknowledged per
resource (by logical id), never as a blanket rule.
"""
from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct

from .approval_gate import ApprovalGate


XRAY = "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions."


def _ack(scope: IConstruct, rule: str, reason: str) -> None:
    pack = "Serverless" if rule.startswith("Serverless") else "AwsSolutions"
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{pack}::{rule}", reason=reason))


def _arn(stack: Stack, construct: IConstruct) -> str:
    return f"<{stack.get_logical_id(construct.node.default_child)}.Arn>"


def acknowledge(stack: Stack) -> None:
    gate: ApprovalGate = stack.gate
    for fn in gate.functions.values():
        _ack(fn, "Serverless-LambdaDLQ",
             "Invoked synchronously only (Step Functions, API Gateway, stream mapping); a function DLQ "
             "applies to async invokes. Stream failures go to the mapping's on-failure SQS destination.")
        _ack(fn.role, "AwsSolutions-IAM5[Resource::*]", XRAY)
        _ack(fn.role, f"AwsSolutions-IAM5[Resource::{_arn(stack, gate.audit.bucket)}/*]",
             "Audit records are appended under per-execution keys that cannot be listed in advance; "
             "the grant is PutObject/GetObject only (no delete, no retention or governance bypass).")
    for fn in (gate.functions["RequestReview"], gate.functions["Dispatcher"], gate.functions["Reminders"],
               gate.functions["Calibrator"], gate.functions["MailDigest"]):
        _ack(fn.role, "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
             "CDK's grant for publishing to the KMS-encrypted topic / reading the encrypted stream.")
    _ack(gate.functions["Dispatcher"].role, "AwsSolutions-IAM5[Action::kms:ReEncrypt*]",
         "CDK's grant for reading the KMS-encrypted DynamoDB stream.")
    sm = gate.workflow.state_machine
    _ack(sm.role, "AwsSolutions-IAM5[Resource::*]",
         "CloudWatch Logs delivery and X-Ray actions for Step Functions support no resource-level permissions.")
    for key in ("Prepare", "RequestReview", "Conclude"):
        _ack(sm.role, f"AwsSolutions-IAM5[Resource::{_arn(stack, gate.functions[key])}:*]",
             "lambda:InvokeFunction on the function's versions and aliases (CDK grant_invoke); "
             "the function itself is named.")
    api = gate.api.api
    for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
        _ack(api, rule, "Reviewers authenticate with per-review, per-reviewer links signed by a KMS HMAC key "
                        "and verified in constant time by the review Lambda; emailed links cannot carry "
                        "a Cognito session.")
    _ack(api, "AwsSolutions-APIG3",
         "Stage throttling bounds the request rate and every request needs a valid HMAC link; attach a "
         "WAF web ACL to the stage if your organisation requires one.")
    _ack(api, "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
              "AmazonAPIGatewayPushToCloudWatchLogs]",
         "API Gateway's account-level logging role uses AWS's managed policy by design.")
    submit = gate.submit_api.api
    _ack(submit, "AwsSolutions-COG4",
         "The submit path is IAM-authorised (SigV4): API Gateway verifies the signature and stamps the caller's "
         "IAM principal into the execution input, which separation of duties needs; a Cognito token would not.")
    _ack(submit, "AwsSolutions-APIG3",
         "IAM-authorised and stage-throttled; the body is validated by the workflow's Prepare step (JSON Schema "
         "2020-12, which API Gateway models do not speak). Attach a WAF web ACL if your organisation requires one.")
    _ack(submit, "AwsSolutions-APIG2",
         "The body is validated by Prepare against the proposal schema (JSON Schema 2020-12, beyond API Gateway "
         "models' draft 4); a refusal is audited there. Request parameters are validated by the stage.")
    _ack(gate.reminder_sweep, "Serverless-EventBusDLQ",
         "The reminder sweep is idempotent and runs every few minutes: a failed run is redone by the next one "
         "(reminders still due stay in the index), so no event is lost.")
    _ack(gate.digest_sweep, "Serverless-EventBusDLQ",
         "Each digest covers everything since the previous one: a failed run is covered by the next, so no "
         "stream head goes unsigned.")
    watch = gate.vigilance.function
    _ack(watch, "Serverless-LambdaDLQ",
         "Invoked by its hourly schedule with retries; it only reads the trail and emits metrics, so a failed "
         "run is redone in full by the next one and nothing is lost.")
    _ack(watch.role, "AwsSolutions-IAM5[Resource::*]", XRAY)
    for prefix in ("executions", "canaries"):
        _ack(watch.role, f"AwsSolutions-IAM5[Resource::{_arn(stack, gate.audit.bucket)}/{prefix}/*]",
             "The watch reads the decision records of its window (executions and canary reviews), whose keys "
             "cannot be listed in advance; the grant is GetObject only, under those two prefixes.")
    _ack(gate.vigilance.schedule, "Serverless-EventBusDLQ",
         "The vigilance watch recomputes everything from the trail each run: a failed run is redone by the next.")
    if gate.mail_digest_sweep:
        _ack(gate.mail_digest_sweep, "Serverless-EventBusDLQ",
             "Held reviews stay queued until a digest lists them: a failed run is covered by the next one, and "
             "every review stays in the reviewer's inbox meanwhile.")
    _ack(gate.reconcile_sweep, "Serverless-EventBusDLQ",
         "The reconciler is idempotent and runs every few minutes: a failed run is redone by the next one "
         "(undispatched decisions stay in the by-outbox index), so no decision is lost.")
    _ack(gate.calibrate_sweep, "Serverless-EventBusDLQ",
         "The calibrator reads the whole history each run and is idempotent (a change is one conditional write, "
         "a proposal has a content-derived execution name): a failed run is redone by the next one.")
    for queue in (gate.dead_letters, gate.notifications.undelivered):
        _ack(queue, "AwsSolutions-SQS3", "This queue is itself a dead-letter destination.")
        _ack(queue, "Serverless-SQSRedrivePolicy", "This queue is itself a dead-letter destination.")
    agents = stack.agents.policy
    machine = stack.get_logical_id(gate.workflow.state_machine.node.default_child)
    _ack(agents, f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
                 f"<{machine}.Name>:*]",
         "The agent host follows the executions it started, whose names (idempotency keys) cannot be listed in "
         "advance; the grant is DescribeExecution and GetExecutionHistory on this one state machine's executions.")
    _ack(agents, f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:<AWS::AccountId>:"
                 f"stack/{stack.stack_name}/*]",
         "A stack's ARN ends in an id CloudFormation assigns at creation; the grant is DescribeStacks on this "
         "stack's name only (the client finds the gate's resources in its outputs).")
    if gate.verdict_delivery:
        for rule in ("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"):
            _ack(gate.verdict_delivery.dead_letters, rule, "This queue is itself a dead-letter destination.")
