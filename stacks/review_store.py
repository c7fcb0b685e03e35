"""Pending reviews: a DynamoDB table with by-reviewer, by-reminder, by-outbox and by-action-type indexes and a
stream for the dispatcher."""
from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


class ReviewStore(Construct):
    def __init__(self, scope: Construct, cid: str, *, key: kms.IKey, retain: bool) -> None:
        super().__init__(scope, cid)
        self.key = key
        self.table = ddb.Table(
            self, "Table",
            partition_key=ddb.Attribute(name="pk", type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name="sk", type=ddb.AttributeType.STRING),
            billing_mode=ddb.BillingMode.PAY_PER_REQUEST,
            encryption=ddb.TableEncryption.CUSTOMER_MANAGED, encryption_key=key,
            point_in_time_recovery_specification=ddb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            stream=ddb.StreamViewType.NEW_AND_OLD_IMAGES,
            time_to_live_attribute="expires_at",
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY)
        self.table.add_global_secondary_index(
            index_name="by-reviewer",
            partition_key=ddb.Attribute(name="reviewer", type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name="pending_until", type=ddb.AttributeType.STRING),
            projection_type=ddb.ProjectionType.INCLUDE, non_key_attributes=["review_id"])
        # pending reviews with a reminder still to send, by reminder time (sparse: only those)
        self.table.add_global_secondary_index(
            index_name="by-reminder",
            partition_key=ddb.Attribute(name="reminder", type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name="remind_at", type=ddb.AttributeType.NUMBER),
            projection_type=ddb.ProjectionType.KEYS_ONLY)
        # decisions not yet dispatched (sparse: DECIDED or DISPATCHING), for the reconciler
        self.table.add_global_secondary_index(
            index_name="by-outbox",
            partition_key=ddb.Attribute(name="outbox", type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name="decided_epoch", type=ddb.AttributeType.NUMBER),
            projection_type=ddb.ProjectionType.KEYS_ONLY)

        # decided reviews by action type, newest first (sparse: only decided ones), for the page's precedents
        self.table.add_global_secondary_index(
            index_name="by-action-type",
            partition_key=ddb.Attribute(name="decided_type", type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name="decided_epoch", type=ddb.AttributeType.NUMBER),
            projection_type=ddb.ProjectionType.INCLUDE,
            non_key_attributes=["review_id", "decision_json", "decided_risk", "decided_confidence"])

    def grant_index_query(self, grantee: iam.IGrantable, index: str) -> None:
        grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
            actions=["dynamodb:Query"], resources=[f"{self.table.table_arn}/index/{index}"]))

    def grant(self, grantee: iam.IGrantable, *actions: str) -> None:
        """Item actions on the table itself only (transactions need the per-item actions)."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=list(actions), resources=[self.table.table_arn]))

    def grant_autonomy(self, grantee: iam.IGrantable, *actions: str) -> None:
        """The calibrated adjustments' item (``AUTONOMY``) and no other: Prepare reads it, Conclude
        writes an approved change."""
        grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
            actions=list(actions), resources=[self.table.table_arn],
            conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["AUTONOMY"]}}))
        self.key.grant(grantee, "kms:Decrypt", "kms:GenerateDataKey")

    def grant_pseudonym_lookup(self, grantee: iam.IGrantable) -> None:
        """Write the pseudonym lookup items (``PSEUDONYM#…``) and no other item: for Prepare, when
        audit records name reviewers by pseudonym (``audit_reviewer_identity``)."""
        grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
            actions=["dynamodb:PutItem"], resources=[self.table.table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["PSEUDONYM#*"]}}))
        self.key.grant(grantee, "kms:Decrypt", "kms:GenerateDataKey")
