"""Deploy the synthesized CDK template into moto, so tests and the sandbox run the very resources
``cdk deploy`` creates, with no second hand-written copy.

moto's CloudFormation drops or skips some things (see ``docs/moto.md``). Each resource type in
the template is therefore handled one of four ways, and a template holding any other type is
refused (``UnhandledResourceType``), so the sandbox can never silently differ from production:

* DEPLOYED: created by moto's CloudFormation (with the fixes below);
* PRECREATED: created here through the API from the template's own properties, because moto's
  CloudFormation loses settings that matter (KMS key spec, S3 Object Lock, DynamoDB encryption,
  PITR and TTL), then referenced;
* REAPPLIED: skipped by moto's CloudFormation, applied here after the stack from its properties;
* NOT_EMULATED: nothing to run locally, for the reason given.
"""
from __future__ import annotations

import copy
import io
import json
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

DEPLOYED = {
    "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::Lambda::Function", "AWS::Lambda::LayerVersion",
    "AWS::Lambda::Permission", "AWS::Lambda::EventSourceMapping", "AWS::Logs::LogGroup", "AWS::Events::Rule",
    "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::SSM::Parameter",
    "AWS::StepFunctions::StateMachine", "AWS::ApiGateway::RestApi", "AWS::ApiGateway::Resource",
    "AWS::ApiGateway::Method", "AWS::ApiGateway::Deployment",
}
PRECREATED = {"AWS::KMS::Key", "AWS::S3::Bucket", "AWS::DynamoDB::Table"}
REAPPLIED = {"AWS::SNS::Subscription", "AWS::SNS::TopicPolicy", "AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy"}
NOT_EMULATED = {
    "AWS::CDK::Metadata": "construct metadata only",
    "AWS::ApiGateway::Stage": "the sandbox's HTTP front routes by the template's methods; stage "
                              "throttling and access logging are asserted on the template",
    "AWS::ApiGateway::Account": "account-wide API Gateway logging role",
    "AWS::ApiGateway::RequestValidator": "required parameters are enforced by the sandbox's router",
    "AWS::Glue::Database": "Athena does not run in the sandbox: the same SQL runs on DuckDB over an export",
    "AWS::Glue::Table": "Athena does not run in the sandbox: the same SQL runs on DuckDB over an export",
    "AWS::Athena::WorkGroup": "Athena does not run in the sandbox: the same SQL runs on DuckDB over an export",
    "AWS::Athena::NamedQuery": "Athena does not run in the sandbox: the same SQL runs on DuckDB over an export",
    "AWS::CloudWatch::Alarm": "nothing turns the functions' EMF logs into metrics in the sandbox; alarms are "
                              "asserted on the template",
    "AWS::CloudWatch::Dashboard": "nothing turns the functions' EMF logs into metrics in the sandbox; the "
                                  "dashboard is asserted on the template",
}
HANDLED = DEPLOYED | PRECREATED | REAPPLIED | set(NOT_EMULATED)


class UnhandledResourceType(RuntimeError):
    pass


class DeployFailed(RuntimeError):
    pass


@dataclass
class Deployment:
    stack_name: str
    template: dict[str, Any]                       # as deployed (after the fixes)
    resources: dict[str, str] = field(default_factory=dict)    # logical id → physical id
    outputs: dict[str, str] = field(default_factory=dict)

    def function_name(self, handler_prefix: str) -> str:
        for logical, res in self.template["Resources"].items():
            if res["Type"] == "AWS::Lambda::Function" and res["Properties"]["Handler"].startswith(handler_prefix):
                return self.resources[logical]
        raise KeyError(handler_prefix)


def check_types(template: dict[str, Any]) -> None:
    unknown = sorted({r["Type"] for r in template["Resources"].values()} - HANDLED)
    if unknown:
        raise UnhandledResourceType(
            "the template has resource types the sandbox neither deploys nor re-applies: "
            + ", ".join(unknown) + " (extend countersign/sandbox/deploy.py)")


def deploy(template: dict[str, Any], asset_dir: Path, *, stack_name: str = "Countersign-sandbox",
           region: str = "us-east-1", api_url: str | None = None) -> Deployment:
    """``api_url``: where the sandbox's HTTP front serves the template's APIs; the stack's API URL
    outputs say so, as they name the execute-api endpoints on AWS."""
    check_types(template)
    tpl = copy.deepcopy(template)
    for key in ("ReviewApiUrl", "SubmitApiUrl"):
        if api_url and key in tpl.get("Outputs", {}):
            tpl["Outputs"][key]["Value"] = api_url
    tpl.pop("Rules", None)
    tpl.get("Parameters", {}).pop("BootstrapVersion", None)
    account = boto3.client("sts", region_name=region).get_caller_identity()["Account"]
    _upload_assets(tpl, asset_dir, account, region)
    literals: dict[str, dict[str, str]] = {
        "AWS::AccountId": {"Ref": account}, "AWS::Region": {"Ref": region}, "AWS::Partition": {"Ref": "aws"},
        "AWS::URLSuffix": {"Ref": "amazonaws.com"}, "AWS::StackName": {"Ref": stack_name}}
    for logical, res in list(tpl["Resources"].items()):
        if res["Type"] == "AWS::KMS::Key":
            literals[logical] = _create_key(res["Properties"], region)
        elif res["Type"] == "AWS::S3::Bucket":
            literals[logical] = _bucket_names(f"{stack_name}-{logical}".lower()[:63])
    # Buckets in CloudFormation's order: a log target and its policy before the bucket logging to it.
    for logical, res in sorted(tpl["Resources"].items(), key=lambda kv: "LoggingConfiguration" in
                               kv[1].get("Properties", {})):
        if res["Type"] != "AWS::S3::Bucket":
            continue
        _create_bucket(literals[logical]["Ref"], _substitute(res.get("Properties", {}), literals), region)
        for policy_id, policy in list(tpl["Resources"].items()):
            if policy["Type"] == "AWS::S3::BucketPolicy" and policy["Properties"]["Bucket"] == {"Ref": logical}:
                document = _substitute(policy["Properties"]["PolicyDocument"], literals)
                boto3.client("s3", region_name=region).put_bucket_policy(
                    Bucket=literals[logical]["Ref"], Policy=json.dumps(document))
                del tpl["Resources"][policy_id]
    for logical, res in list(tpl["Resources"].items()):
        if res["Type"] == "AWS::DynamoDB::Table":
            literals[logical] = _create_table(f"{stack_name}-{logical}", _substitute(res["Properties"], literals), region)
    for logical in [k for k in literals if k in tpl["Resources"]]:
        del tpl["Resources"][logical]
    tpl = _substitute(tpl, literals)
    reapply = {k: tpl["Resources"].pop(k) for k, r in list(tpl["Resources"].items()) if r["Type"] in REAPPLIED}
    for res in tpl["Resources"].values():
        if "DependsOn" in res:
            kept = [d for d in ([res["DependsOn"]] if isinstance(res["DependsOn"], str) else res["DependsOn"])
                    if d in tpl["Resources"]]
            res["DependsOn"] = kept
        if res["Type"] == "AWS::StepFunctions::StateMachine":
            props = res["Properties"]
            props["DefinitionString"] = _join_substitutions(props["DefinitionString"],
                                                            props.pop("DefinitionSubstitutions", {}))

    cfn = boto3.client("cloudformation", region_name=region)
    with warnings.catch_warnings():
        # moto skips the NOT_EMULATED types with a warning (and drops outputs naming them)
        warnings.filterwarnings("ignore", message="Tried to parse AWS::", category=UserWarning)
        stack_id = cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(tpl),
                                    Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"])["StackId"]
    described = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
    if described["StackStatus"] != "CREATE_COMPLETE":
        raise DeployFailed(f"{stack_name}: {described['StackStatus']} {described.get('StackStatusReason', '')}")
    deployment = Deployment(stack_name, tpl)
    deployment.resources = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                            for r in cfn.list_stack_resources(StackName=stack_id)["StackResourceSummaries"]}
    deployment.resources.update({k: v["Ref"] for k, v in literals.items()})
    deployment.outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    _reapply(stack_id, tpl, reapply, account, region)
    return deployment


def _join_substitutions(definition: str, substitutions: dict[str, Any]) -> Any:
    """``DefinitionSubstitutions`` as an Fn::Join (moto ignores the property, and its Fn::Sub
    runs ``string.Template``, which turns the ASL context prefix ``$$.`` into ``$.``)."""
    parts = re.split(r"\$\{([A-Za-z0-9_]+)\}", definition)
    joined: list[Any] = []
    for i, part in enumerate(parts):
        joined.append(part if i % 2 == 0 else substitutions.get(part, "${" + part + "}"))
    return {"Fn::Join": ["", joined]}


def _upload_assets(tpl: dict[str, Any], asset_dir: Path, account: str, region: str) -> None:
    """Zip each code asset the template references into the CDK bootstrap bucket."""
    bucket = f"cdk-hnb659fds-assets-{account}-{region}"
    s3 = boto3.client("s3", region_name=region)
    s3.create_bucket(Bucket=bucket)
    uploaded: set[str] = set()
    for res in tpl["Resources"].values():
        code = res.get("Properties", {}).get("Code") or res.get("Properties", {}).get("Content")
        if not code or "S3Key" not in code:
            continue
        code["S3Bucket"] = bucket
        if code["S3Key"] in uploaded:
            continue
        uploaded.add(code["S3Key"])
        source = asset_dir / f"asset.{code['S3Key'].removesuffix('.zip')}"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for path in sorted(source.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(source).as_posix())
        s3.put_object(Bucket=bucket, Key=code["S3Key"], Body=buffer.getvalue())


def _create_key(props: dict[str, Any], region: str) -> dict[str, str]:
    kms = boto3.client("kms", region_name=region)
    meta = kms.create_key(Description=props.get("Description", ""),
                          KeySpec=props.get("KeySpec", "SYMMETRIC_DEFAULT"),
                          KeyUsage=props.get("KeyUsage", "ENCRYPT_DECRYPT"))["KeyMetadata"]
    if props.get("EnableKeyRotation"):
        kms.enable_key_rotation(KeyId=meta["KeyId"])
    return {"Ref": meta["KeyId"], "Arn": meta["Arn"]}


def _bucket_names(name: str) -> dict[str, str]:
    return {"Ref": name, "Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.us-east-1.amazonaws.com"}


def _create_bucket(name: str, props: dict[str, Any], region: str) -> None:
    s3 = boto3.client("s3", region_name=region)
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=props.get("ObjectLockEnabled", False))
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": props["VersioningConfiguration"]["Status"]})
    if "ObjectLockConfiguration" in props:
        s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=props["ObjectLockConfiguration"])
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
    if "BucketEncryption" in props:
        rules = [{"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"],
                  **({"BucketKeyEnabled": r["BucketKeyEnabled"]} if "BucketKeyEnabled" in r else {})}
                 for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if "OwnershipControls" in props:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=props["OwnershipControls"])
    if "AccessControl" in props:
        raise DeployFailed(f"{name}: bucket ACLs are not used by Countersign (AccessControl found)")
    if "LifecycleConfiguration" in props:
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [
            {"ID": f"rule-{i}", "Status": r["Status"], "Filter": {"Prefix": r.get("Prefix", "")},
             "Expiration": {"Days": r["ExpirationInDays"]}}
            for i, r in enumerate(props["LifecycleConfiguration"]["Rules"])]})
    if "LoggingConfiguration" in props:
        log = props["LoggingConfiguration"]
        s3.put_bucket_logging(Bucket=name, BucketLoggingStatus={"LoggingEnabled": {
            "TargetBucket": log["DestinationBucketName"], "TargetPrefix": log.get("LogFilePrefix", "")}})


def _create_table(name: str, props: dict[str, Any], region: str) -> dict[str, str]:
    ddb = boto3.client("dynamodb", region_name=region)
    args: dict[str, Any] = {k: props[k] for k in ("KeySchema", "AttributeDefinitions", "BillingMode",
                                                  "GlobalSecondaryIndexes") if k in props}
    if "StreamSpecification" in props:
        args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    sse = props.get("SSESpecification", {})
    if sse.get("SSEEnabled"):
        args["SSESpecification"] = {"Enabled": True, "SSEType": sse.get("SSEType", "KMS"),
                                    **({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if "KMSMasterKeyId" in sse else {})}
    table = ddb.create_table(TableName=name, **args)["TableDescription"]
    if props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
        ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    if props.get("TimeToLiveSpecification", {}).get("Enabled"):
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
            "Enabled": True, "AttributeName": props["TimeToLiveSpecification"]["AttributeName"]})
    return {"Ref": name, "Arn": table["TableArn"], "StreamArn": table.get("LatestStreamArn", "")}


def _substitute(value: Any, literals: dict[str, dict[str, str]]) -> Any:
    """Replace Ref / Fn::GetAtt to pre-created resources with their real ids."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in literals:
            return literals[value["Ref"]]["Ref"]
        if set(value) == {"Fn::GetAtt"} and value["Fn::GetAtt"][0] in literals:
            return literals[value["Fn::GetAtt"][0]][value["Fn::GetAtt"][1]]
        out = {k: _substitute(v, literals) for k, v in value.items()}
        if set(out) == {"Fn::Join"} and all(isinstance(p, str) for p in out["Fn::Join"][1]):
            return out["Fn::Join"][0].join(out["Fn::Join"][1])
        return out
    if isinstance(value, list):
        return [_substitute(v, literals) for v in value]
    return value


def _reapply(stack_id: str, tpl: dict[str, Any], skipped: dict[str, Any], account: str, region: str) -> None:
    """Apply what moto's CloudFormation skipped or dropped, from the template's own properties."""
    from moto.cloudformation.models import cloudformation_backends
    from moto.cloudformation.parsing import clean_json

    resource_map = cloudformation_backends[account][region].stacks[stack_id].resource_map

    def resolve(value: Any) -> Any:
        return clean_json(value, resource_map)

    sns, s3, sqs = (boto3.client(s, region_name=region) for s in ("sns", "s3", "sqs"))
    for res in skipped.values():
        props = resolve(res["Properties"])
        kind = res["Type"]
        if kind == "AWS::SNS::Subscription":
            attrs = {k: json.dumps(props[k]) for k in ("FilterPolicy", "RedrivePolicy") if k in props}
            sns.subscribe(TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"],
                          Attributes=attrs)
        elif kind == "AWS::SNS::TopicPolicy":
            for topic in props["Topics"]:
                sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy",
                                         AttributeValue=json.dumps(props["PolicyDocument"]))
        elif kind == "AWS::S3::BucketPolicy":
            s3.put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"]))
        elif kind == "AWS::SQS::QueuePolicy":
            for queue in props["Queues"]:
                sqs.set_queue_attributes(QueueUrl=queue, Attributes={"Policy": json.dumps(props["PolicyDocument"])})
    iam = boto3.client("iam", region_name=region)
    for logical, res in tpl["Resources"].items():
        if res["Type"] == "AWS::IAM::Role":
            for arn in resolve(res["Properties"].get("ManagedPolicyArns", [])):
                _attach_managed(iam, resource_map[logical].name, arn)


def _attach_managed(iam, role: str, arn: str) -> None:
    """AWS managed policies exist in moto only when it loads them
    (``{"iam": {"load_aws_managed_policies": True}}``); without them this fails loudly."""
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
