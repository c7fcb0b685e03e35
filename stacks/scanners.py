"""checkov and cfn-lint acknowledgments, written into the template's metadata: each names the
check, the resource, and why it is accepted (``Metadata.checkov.skip[].comment``,
``Metadata.cfn-lint.config.ignore_checks`` with its reason beside it).

The test suite runs both scanners on the synthesized template (``tests/infra/test_scanners.py``):
any finding not acknowledged here fails it, and so does an acknowledgment without a reason.
"""
from __future__ import annotations

from aws_cdk import CfnResource, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import IConstruct

from .approval_gate import ApprovalGate

LAMBDA = {
    "CKV_AWS_116": "Invoked synchronously (Step Functions, API Gateway, the stream mapping, whose failures go to its "
                   "SQS on-failure destination) or by schedules whose next run redoes a failed one; a function DLQ "
                   "would hold nothing.",
    "CKV_AWS_117": "The functions call only AWS APIs (S3, DynamoDB, KMS, SNS, Step Functions, EventBridge, SSM) with "
                   "IAM; no private resource needs a VPC, and one would add NAT or endpoints to every call.",
    "CKV_AWS_115": "Concurrency is bounded upstream (API Gateway stage throttling, workflow executions, one stream "
                   "shard per partition); a reservation per function would fail deployment in accounts with the "
                   "default low concurrency quota.",
    "CKV_AWS_173": "The environment holds names, ARNs and URLs only, never a secret (keys stay in KMS); Lambda "
                   "encrypts it at rest with its service key.",
}
W3005 = ("W3005", "CDK adds an explicit DependsOn on the function's role beside the GetAtt: redundant, harmless.")


def _skip(resource: IConstruct, check: str, reason: str) -> None:
    cfn = resource if isinstance(resource, CfnResource) else resource.node.default_child
    skips = (cfn.get_metadata("checkov") or {}).get("skip", [])
    cfn.add_metadata("checkov", {"skip": [*skips, {"id": check, "comment": reason}]})


def _lint_ignore(resource: IConstruct, check: str, reason: str) -> None:
    cfn = resource if isinstance(resource, CfnResource) else resource.node.default_child
    config = cfn.get_metadata("cfn-lint") or {"config": {"ignore_checks": []}, "reasons": {}}
    config["config"]["ignore_checks"].append(check)
    config["reasons"][check] = reason
    cfn.add_metadata("cfn-lint", config)


def acknowledge_scanners(stack: Stack) -> None:
    gate: ApprovalGate = stack.gate
    for fn in gate.functions.values():
        for check, reason in LAMBDA.items():
            _skip(fn, check, reason)
        if isinstance(fn, lambda_.Function):
            _lint_ignore(fn, *W3005)
    _lint_ignore(gate.workflow.state_machine, *W3005)
    for method in gate.api.api.methods:
        _skip(method, "CKV_AWS_59", "Review links carry a per-review, per-reviewer HMAC (KMS) verified in constant "
                                    "time by the review Lambda; an emailed link cannot carry IAM or Cognito auth.")
    for api in (gate.api.api, gate.submit_api.api):
        _skip(api.deployment_stage, "CKV_AWS_120", "Every response depends on the review's current state or "
                                                   "starts an execution: a cached page or answer would be wrong.")
    _skip(gate.link_key, "CKV_AWS_7", "An HMAC key: KMS rotates symmetric encryption keys only; links expire with "
                                      "their review, so a replaced key is the rotation.")
    _skip(gate.audit.access_logs, "CKV_AWS_18", "This is the access-log bucket itself: logging it to itself would "
                                                "loop, and to another bucket only moves the question.")
    _skip(gate.queries.results, "CKV_AWS_21", "Athena query results: re-creatable and expired after 30 days; "
                                              "versions would keep deleted results longer, not protect anything.")
