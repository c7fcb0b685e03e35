"""Reviewer notifications: one encrypted, TLS-only topic; one email subscription per reviewer,
filtered on the ``reviewer`` message attribute so each reviewer receives only their own link."""
from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct

from .config import Reviewer


class Notifications(Construct):
    def __init__(self, scope: Construct, cid: str, *, key: kms.IKey, reviewers: tuple[Reviewer, ...]) -> None:
        super().__init__(scope, cid)
        self.topic = sns.Topic(self, "Topic", master_key=key, enforce_ssl=True,
                               display_name="Countersign reviews")
        # Emails SNS could not deliver are kept here rather than lost; SNS must be able to use the key.
        key.add_to_resource_policy(iam.PolicyStatement(
            actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=["*"],
            principals=[iam.ServicePrincipal("sns.amazonaws.com")]))
        self.undelivered = sqs.Queue(self, "Undelivered", encryption=sqs.QueueEncryption.KMS,
                                     encryption_master_key=key, enforce_ssl=True,
                                     retention_period=Duration.days(14))
        for reviewer in reviewers:
            self.topic.add_subscription(subs.EmailSubscription(
                reviewer.email, dead_letter_queue=self.undelivered, filter_policy={
                "reviewer": sns.SubscriptionFilter.string_filter(allowlist=[reviewer.id])}))
