"""The write-once audit trail: an S3 Object Lock bucket, its access-log bucket, its key, and two
asymmetric signing keys set up alike: one signs the trail's digests (only the digest function may
sign with it), the other the decision receipts (only Conclude may)."""
from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct


class AuditTrail(Construct):
    def __init__(self, scope: Construct, cid: str, *, retention_days: int, lock_mode: str) -> None:
        super().__init__(scope, cid)
        self.key = kms.Key(self, "Key", enable_key_rotation=True,
                           description="Countersign audit trail encryption")
        # An Object Lock bucket cannot log to itself: access logs go to a separate bucket.
        self.access_logs = s3.Bucket(
            self, "AccessLogs", encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(max(retention_days, 90)))],
            removal_policy=RemovalPolicy.RETAIN)
        retention = (s3.ObjectLockRetention.compliance if lock_mode == "COMPLIANCE"
                     else s3.ObjectLockRetention.governance)(Duration.days(retention_days))
        self.bucket = s3.Bucket(
            self, "Bucket", object_lock_enabled=True, object_lock_default_retention=retention,
            versioned=True, encryption=s3.BucketEncryption.KMS, encryption_key=self.key,
            bucket_key_enabled=True, enforce_ssl=True, block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            server_access_logs_bucket=self.access_logs, server_access_logs_prefix="audit/",
            removal_policy=RemovalPolicy.RETAIN)

        self.digest_key = self._signing_key("DigestKey", "Countersign audit digest signatures (ECDSA P-256)")
        self.receipt_key = self._signing_key("ReceiptKey", "Countersign decision receipt signatures (ECDSA P-256)")

    def _signing_key(self, cid: str, description: str) -> kms.Key:
        """A P-256 signing key whose policy lets the account administer it and read its public key,
        but not sign: the one principal that may sign is added by its grant."""
        return kms.Key(
            self, cid, key_spec=kms.KeySpec.ECC_NIST_P256, key_usage=kms.KeyUsage.SIGN_VERIFY,
            description=description, removal_policy=RemovalPolicy.RETAIN,
            policy=iam.PolicyDocument(statements=[iam.PolicyStatement(
                sid="AdministerAndVerifyButNotSign", principals=[iam.AccountRootPrincipal()], resources=["*"],
                actions=["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
                         "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
                         "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:Verify"])]))

    def grant_digest(self, digest_fn: iam.IGrantable) -> None:
        """Read the trail, write digests, and sign them: the one principal the digest key trusts."""
        self.grant_append(digest_fn)
        self.digest_key.add_to_resource_policy(iam.PolicyStatement(
            sid="OnlyTheDigestFunctionSigns", principals=[digest_fn.grant_principal], actions=["kms:Sign"],
            resources=["*"]))

    def grant_receipts(self, issuer_fn: iam.IGrantable) -> None:
        """Sign decision receipts: the one principal the receipt key trusts."""
        self.receipt_key.add_to_resource_policy(iam.PolicyStatement(
            sid="OnlyConcludeSignsReceipts", principals=[issuer_fn.grant_principal], actions=["kms:Sign"],
            resources=["*"]))

    def grant_read(self, grantee: iam.IGrantable) -> None:
        """List and read the decision records (executions and canary reviews); write nothing."""
        grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
            actions=["s3:GetObject"], resources=[self.bucket.arn_for_objects("executions/*"),
                                                 self.bucket.arn_for_objects("canaries/*")]))
        grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn]))
        self.key.grant(grantee, "kms:Decrypt")

    def grant_append(self, grantee: iam.IGrantable) -> None:
        """Write and read records; never delete, overwrite retention or bypass governance."""
        grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
            actions=["s3:PutObject", "s3:GetObject"], resources=[self.bucket.arn_for_objects("*")]))
        grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn]))
        self.key.grant(grantee, "kms:GenerateDataKey", "kms:Decrypt")
