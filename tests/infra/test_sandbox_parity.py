"""The moto deployment is the synthesized template, not a look-alike: every resource type is
deployed, pre-created, re-applied or explicitly not emulated, and what moto's CloudFormation
drops is really in place after the deploy."""
from __future__ import annotations

import copy
import json

import boto3
import pytest

from countersign.sandbox.deploy import HANDLED, NOT_EMULATED, UnhandledResourceType, check_types


def test_every_resource_type_in_the_template_is_handled(synthesized):
    types = {r["Type"] for r in synthesized.template["Resources"].values()}
    assert types <= HANDLED, types - HANDLED
    assert all(reason for reason in NOT_EMULATED.values())


def test_a_template_with_an_unhandled_type_is_refused(synthesized):
    grown = copy.deepcopy(synthesized.template)
    grown["Resources"]["Firewall"] = {"Type": "AWS::WAFv2::WebACL", "Properties": {}}
    with pytest.raises(UnhandledResourceType, match="AWS::WAFv2::WebACL"):
        check_types(grown)


def test_audit_bucket_has_the_templates_object_lock_versioning_and_access_block(stack, synthesized):
    s3 = boto3.client("s3")
    props = next(r["Properties"] for r in synthesized.template["Resources"].values()
                 if r["Type"] == "AWS::S3::Bucket" and r["Properties"].get("ObjectLockEnabled"))
    lock = s3.get_object_lock_configuration(Bucket=stack.audit_bucket)["ObjectLockConfiguration"]
    expected = props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    assert {k: lock["Rule"]["DefaultRetention"][k] for k in expected} == expected   # moto adds "Years": 0
    assert s3.get_bucket_versioning(Bucket=stack.audit_bucket)["Status"] == "Enabled"
    assert s3.get_public_access_block(Bucket=stack.audit_bucket)["PublicAccessBlockConfiguration"] == \
        props["PublicAccessBlockConfiguration"]
    rule = s3.get_bucket_encryption(Bucket=stack.audit_bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert s3.get_bucket_logging(Bucket=stack.audit_bucket)["LoggingEnabled"]["TargetPrefix"] == "audit/"
    assert "aws:SecureTransport" in s3.get_bucket_policy(Bucket=stack.audit_bucket)["Policy"]


def test_link_key_is_an_hmac_key(stack):
    key_id = next(r["Properties"]["Environment"]["Variables"]["LINK_KEY_ID"]
                  for r in stack.deployment.template["Resources"].values()
                  if "LINK_KEY_ID" in json.dumps(r.get("Properties", {}).get("Environment", {})))
    meta = boto3.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeySpec"] == "HMAC_256" and meta["KeyUsage"] == "GENERATE_VERIFY_MAC"


def test_table_has_pitr_ttl_and_kms_encryption(stack):
    ddb = boto3.client("dynamodb")
    backups = ddb.describe_continuous_backups(TableName=stack.table)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    ttl = ddb.describe_time_to_live(TableName=stack.table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    assert ddb.describe_table(TableName=stack.table)["Table"]["SSEDescription"]["SSEType"] == "KMS"


def test_each_reviewer_is_subscribed_with_their_filter_and_a_dead_letter_queue(stack):
    sns = boto3.client("sns")
    subs = sns.list_subscriptions_by_topic(TopicArn=stack.topic_arn)["Subscriptions"]
    found = {}
    for sub in subs:
        attrs = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])["Attributes"]
        found[sub["Endpoint"]] = (json.loads(attrs["FilterPolicy"]), "deadLetterTargetArn" in attrs["RedrivePolicy"])
    assert found == {f"{r}@example.com": ({"reviewer": [r]}, True) for r in ("alice", "bob", "carol")}
    policy = sns.get_topic_attributes(TopicArn=stack.topic_arn)["Attributes"]["Policy"]
    assert "aws:SecureTransport" in policy


def test_state_machine_runs_the_asl_file_with_real_function_arns(stack):
    sfn = boto3.client("stepfunctions")
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=stack.state_machine_arn)["definition"])
    with open("statemachines/approval_gate.asl.json") as f:
        original = json.load(f)
    assert definition["States"].keys() == original["States"].keys()
    arn = definition["States"]["Prepare"]["Parameters"]["FunctionName"]
    assert arn.startswith("arn:aws:lambda:") and "${" not in json.dumps(definition)
    assert definition["States"]["RequestReview"]["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
