"""Verdict delivery on the real synthesized template: the end of an execution is announced to each
configured pipeline through an EventBridge API destination, with credentials from Secrets Manager
and nothing else in the request; bad ``verdict_destinations`` fail synth by name."""
from __future__ import annotations

import copy
import json

import pytest
from aws_cdk.assertions import Match, Template

from stacks.config import Config, ConfigError
from tests.conftest import TEST_CONTEXT

GITHUB = {"name": "deploys", "kind": "github", "repository": "acme/shop", "secret": "countersign/github-token",
          "prefix": "deploy-acme-shop-"}
GITLAB = {"kind": "gitlab", "url": "https://gitlab.example", "project": "4211", "ref": "main",
          "secret": "countersign/gitlab-trigger"}
ENDED = ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]


@pytest.fixture(scope="module")
def delivered(tmp_path_factory):
    from countersign.sandbox.synth import synthesize

    context = {**TEST_CONTEXT, "stage": "delivery", "verdict_destinations": [GITHUB, GITLAB]}
    synthesized = synthesize(tmp_path_factory.mktemp("cdk.out"), context)    # nag runs inside: clean or raise
    report = json.loads((synthesized.outdir / "validation-report.json").read_text())
    assert [p["violations"] for p in report["pluginReports"]] == [[], []]
    return Template.from_stack(synthesized.stack)


def by_endpoint(template: Template, endpoint: str) -> tuple[dict, dict, dict]:
    """The API destination for ``endpoint``, its connection and the rule that targets it."""
    resources = template.to_json()["Resources"]
    [(dest_id, dest)] = [(k, r["Properties"]) for k, r in resources.items()
                         if r["Type"] == "AWS::Events::ApiDestination" and r["Properties"]["InvocationEndpoint"] == endpoint]
    connection = resources[dest["ConnectionArn"]["Fn::GetAtt"][0]]["Properties"]
    [rule] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"
              and r["Properties"].get("Targets", [{}])[0].get("Arn") == {"Fn::GetAtt": [dest_id, "Arn"]}]
    return dest, connection, rule


def machine_ref(template: Template) -> dict:
    [machine] = template.find_resources("AWS::StepFunctions::StateMachine")
    return {"Ref": machine}


def test_github_gets_a_repository_dispatch_with_the_execution_only(delivered):
    dest, connection, rule = by_endpoint(delivered, "https://api.github.com/repos/acme/shop/dispatches")
    assert dest["HttpMethod"] == "POST"
    assert rule["EventPattern"] == {
        "source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"stateMachineArn": [machine_ref(delivered)], "status": ENDED,
                   "name": [{"prefix": "deploy-acme-shop-"}]}}
    assert connection["AuthorizationType"] == "API_KEY"
    assert connection["AuthParameters"]["ApiKeyAuthParameters"] == {
        "ApiKeyName": "Authorization", "ApiKeyValue": "{{resolve:secretsmanager:countersign/github-token:SecretString:::}}"}
    headers = connection["AuthParameters"]["InvocationHttpParameters"]["HeaderParameters"]
    assert {"IsValueSecret": False, "Key": "Accept", "Value": "application/vnd.github+json"} in headers
    [target] = rule["Targets"]
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"] == {"detail-executionArn": "$.detail.executionArn",
                                            "detail-name": "$.detail.name", "detail-status": "$.detail.status"}
    filled = transformer["InputTemplate"].replace("<detail-executionArn>", '"A"').replace(
        "<detail-name>", '"N"').replace("<detail-status>", '"S"')
    assert json.loads(filled) == {"event_type": "countersign-verdict",
                                  "client_payload": {"execution_arn": "A", "execution_name": "N", "status": "S"}}


def test_gitlab_gets_a_pipeline_trigger_with_the_token_in_the_body_never_the_url(delivered):
    endpoint = "https://gitlab.example/api/v4/projects/4211/trigger/pipeline"
    dest, connection, rule = by_endpoint(delivered, endpoint)
    assert "token" not in dest["InvocationEndpoint"] and "QueryStringParameters" not in json.dumps(connection)
    assert connection["AuthParameters"]["InvocationHttpParameters"]["BodyParameters"] == [{
        "IsValueSecret": True, "Key": "token",
        "Value": "{{resolve:secretsmanager:countersign/gitlab-trigger:SecretString:::}}"}]
    assert "name" not in rule["EventPattern"]["detail"]         # no prefix: every ended execution
    template = rule["Targets"][0]["InputTransformer"]["InputTemplate"]
    filled = template.replace("<detail-name>", '"N"').replace("<detail-status>", '"S"')
    assert json.loads(filled) == {"ref": "main", "variables": {"COUNTERSIGN_EXECUTION": "N", "COUNTERSIGN_STATUS": "S"}}


def test_the_requests_carry_no_input_output_or_token_of_the_execution(delivered):
    rules = [r["Properties"] for r in delivered.find_resources("AWS::Events::Rule").values()
             if r["Properties"].get("EventPattern", {}).get("source") == ["aws.states"]]
    assert len(rules) == 2
    for rule in rules:
        paths = rule["Targets"][0]["InputTransformer"]["InputPathsMap"].values()
        assert set(paths) <= {"$.detail.executionArn", "$.detail.name", "$.detail.status"}
        assert "Input" not in rule["Targets"][0] and "InputPath" not in rule["Targets"][0]


def test_failed_deliveries_are_retried_for_a_day_then_kept_in_a_dead_letter_queue(delivered):
    [queue_id] = [k for k in delivered.find_resources("AWS::SQS::Queue") if "VerdictDelivery" in k]
    for rule in delivered.find_resources("AWS::Events::Rule").values():
        for target in rule["Properties"].get("Targets", []):
            if "InputTransformer" in target:
                assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}
                assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 24}
    delivered.has_resource_properties("AWS::SQS::QueuePolicy", {"PolicyDocument": {"Statement": Match.array_with([
        Match.object_like({"Action": "sqs:SendMessage", "Principal": {"Service": "events.amazonaws.com"},
                           "Condition": {"ArnEquals": {"aws:SourceArn": Match.any_value()}}})])}})


def test_each_destination_role_may_invoke_its_own_destination_only(delivered):
    policies = [p["Properties"]["PolicyDocument"]["Statement"] for k, p in
                delivered.find_resources("AWS::IAM::Policy").items() if "VerdictDelivery" in k]
    assert len(policies) == 2
    for statements in policies:
        [statement] = statements
        assert statement["Action"] == "events:InvokeApiDestination"
        assert statement["Resource"]["Fn::GetAtt"][0].startswith("GateVerdictDelivery")


def test_no_destination_configured_means_no_rule_and_no_destination(synthesized):
    template = Template.from_stack(synthesized.stack)
    for kind in ("AWS::Events::Connection", "AWS::Events::ApiDestination"):
        template.resource_count_is(kind, 0)
    assert "aws.states" not in json.dumps(template.find_resources("AWS::Events::Rule"))


def config(destinations) -> Config:
    context = {**copy.deepcopy(TEST_CONTEXT), "verdict_destinations": destinations}
    return Config.from_context(context.get)


def test_destinations_given_with_dash_c_are_parsed_and_named():
    built = config(json.dumps([GITLAB])).verdict_destinations
    assert built == ({"name": "gitlab-1", **GITLAB},)


@pytest.mark.parametrize("destinations, message", [
    ({"kind": "github"}, "context verdict_destinations: must be a list of destinations"),
    ([{"kind": "slack"}], "context verdict_destinations[0]: kind must be github or gitlab, got 'slack'"),
    ([{**GITHUB, "token": "ghp_x"}], "context verdict_destinations[0]: a github destination has repository, "
                                     "secret and optionally name and prefix"),
    ([{k: v for k, v in GITLAB.items() if k != "ref"}], "a gitlab destination has project, ref, secret, url"),
    ([{**GITLAB, "url": "http://gitlab.example"}], "context verdict_destinations[0].url: 'http://gitlab.example'"),
    ([{**GITLAB, "project": "group/app"}], "context verdict_destinations[0].project: 'group/app' must match"),
    ([{**GITHUB, "repository": "acme"}], "context verdict_destinations[0].repository: 'acme' must match"),
    ([GITHUB, {**GITHUB, "repository": "acme/other"}], "context verdict_destinations: destination names must be unique"),
])
def test_bad_destinations_are_refused_by_key(destinations, message):
    with pytest.raises(ConfigError) as refused:
        config(destinations)
    assert message in str(refused.value)
