"""Every CloudWatch log group of the gate is encrypted with one KMS key of its own (rotated).

An aspect sets the key on each log group, whoever created it (functions, workflow, API access
logs, and any added later), so none is left with CloudWatch's default encryption. CloudWatch Logs
may use the key only for this account's log groups (the ``aws:logs:arn`` encryption context).
"""
from __future__ import annotations

import jsii
from aws_cdk import Aspects, Aws, IAspect
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct


@jsii.implements(IAspect)
class _EncryptLogGroups:
    def __init__(self, key: kms.IKey) -> None:
        self.key = key

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, logs.CfnLogGroup) and node.kms_key_id is None:
            node.kms_key_id = self.key.key_arn


def encrypt_log_groups(scope: Construct) -> kms.Key:
    key = kms.Key(scope, "LogsKey", enable_key_rotation=True, description="Countersign log groups")
    key.add_to_resource_policy(iam.PolicyStatement(
        principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")], resources=["*"],
        actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
        conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"}}))
    Aspects.of(scope).add(_EncryptLogGroups(key))
    return key
