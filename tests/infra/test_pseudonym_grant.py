"""The grant Prepare needs when audit records name reviewers by pseudonym: it may put the lookup
items (``PSEUDONYM#…``) in the reviews table and nothing else there."""
from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from stacks.review_store import ReviewStore


def test_the_pseudonym_lookup_grant_is_put_item_on_pseudonym_keys_only():
    stack = cdk.Stack(cdk.App(), "Grant")
    store = ReviewStore(stack, "Reviews", key=kms.Key(stack, "Key"), retain=False)
    role = iam.Role(stack, "Prepare", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    store.grant_pseudonym_lookup(role)
    [policy] = Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()
    found = policy["Properties"]["PolicyDocument"]["Statement"]
    put = [s for s in found if s["Action"] == "dynamodb:PutItem"]
    assert len(put) == 1 and put[0]["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["PSEUDONYM#*"]}}
    assert put[0]["Resource"]["Fn::GetAtt"][1] == "Arn"          # the table itself, no index
    assert not [s for s in found if "dynamodb" in str(s["Action"]) and s is not put[0]]
    assert [s for s in found if s["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]]



def test_the_stack_gives_prepare_the_mode_and_the_grant_only_in_pseudonym_mode(synthesized, tmp_path):
    from countersign.sandbox.synth import synthesize
    from tests.conftest import TEST_CONTEXT

    def prepare_of(tpl: dict) -> tuple[dict, str]:
        fn = next(f for f in tpl["Resources"].values() if f["Type"] == "AWS::Lambda::Function"
                  and f["Properties"]["Handler"] == "lambdas.prepare.handler")
        role = fn["Properties"]["Role"]["Fn::GetAtt"][0]
        policies = [p for p in tpl["Resources"].values() if p["Type"] == "AWS::IAM::Policy"
                    and {"Ref": role} in p["Properties"]["Roles"]]
        return fn["Properties"]["Environment"]["Variables"], json.dumps(policies)

    env, grants = prepare_of(synthesized.template)
    assert env["AUDIT_REVIEWER_IDENTITY"] == "id" and "PSEUDONYM#" not in grants
    env, grants = prepare_of(synthesize(tmp_path, {**TEST_CONTEXT, "audit_reviewer_identity": "pseudonym"}).template)
    assert env["AUDIT_REVIEWER_IDENTITY"] == "pseudonym" and "PSEUDONYM#*" in grants
