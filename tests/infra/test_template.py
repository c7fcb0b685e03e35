"""Assertions on the real synthesized template: every resource and property the approval gate
depends on for security, durability and evidence."""
from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from tests.conftest import EXECUTOR_ARN, TEST_CONTEXT


@pytest.fixture(scope="module")
def template(synthesized) -> Template:
    return Template.from_stack(synthesized.stack)


def resources(template: Template, kind: str) -> dict:
    return template.find_resources(kind)


def only(template: Template, kind: str) -> dict:
    found = resources(template, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return next(iter(found.values()))["Properties"]


def definition(template: Template) -> dict:
    props = only(template, "AWS::StepFunctions::StateMachine")
    return json.loads(props["DefinitionString"])


def test_workflow_is_a_standard_state_machine_from_the_asl_file(template):
    props = only(template, "AWS::StepFunctions::StateMachine")
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    logging = props["LoggingConfiguration"]
    assert logging["Level"] == "ALL" and logging["IncludeExecutionData"] is False   # task tokens stay out
    assert set(props["DefinitionSubstitutions"]) == {"PrepareFunctionArn", "RequestReviewFunctionArn",
                                                     "ConcludeFunctionArn"}
    with open("statemachines/approval_gate.asl.json") as f:
        assert json.loads(props["DefinitionString"]) == json.load(f)


def test_the_gate_blocks_on_a_task_token_with_a_policy_timeout_and_fails_closed(template):
    states = definition(template)["States"]
    gate = states["RequestReview"]
    assert gate["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert gate["TimeoutSecondsPath"] == "$.windows.human_review"     # Case.window, also the stored deadline
    assert gate["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
    # the stored deadline counts from when the gate was entered, so it never outlives the timer
    assert gate["Parameters"]["Payload"]["entered_at.$"] == "$$.State.EnteredTime"
    assert {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.callback", "Next": "Escalate"} in gate["Catch"]
    # a settled escalation (a decision stored in time, or the last tier asked) acts; else the next tier
    assert states["NextTier"]["Choices"] == [{"Variable": "$.settled", "IsPresent": True, "Next": "Act"}]
    assert {"And": [{"Variable": "$.proposal.confidence", "NumericGreaterThanEqualsPath": "$.policy.auto_approve_threshold"},
                    {"Variable": "$.policy.auto_approve_threshold", "NumericLessThan": 1}],
            "Next": "Conclude"} in states["Route"]["Choices"]         # HOOTL with nothing to execute; 1 means never
    assert states["Refused"]["Type"] == "Fail" and states["Halted"]["Error"] == "Countersign.Halted"
    veto = states["VetoWindow"]
    assert veto["Resource"] == gate["Resource"] and veto["TimeoutSecondsPath"] == "$.windows.veto_window"
    assert {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.callback", "Next": "Unvetoed"} in veto["Catch"]


def test_state_machine_may_invoke_its_three_functions_and_nothing_else(template):
    policies = [p["Properties"]["PolicyDocument"]["Statement"] for p in resources(template, "AWS::IAM::Policy").values()
                if any("StateMachineRole" in r["Ref"] for r in p["Properties"]["Roles"])]
    statements = [s for doc in policies for s in doc]
    invoke = [s for s in statements if s["Action"] == "lambda:InvokeFunction"]
    targets = {r["Fn::GetAtt"][0] for s in invoke for r in s["Resource"] if "Fn::GetAtt" in r}
    assert len(targets) == 3 and all(any(n in t for n in ("Prepare", "RequestReview", "Conclude")) for t in targets)
    named = {r for s in invoke for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
             if isinstance(r, str)}
    policy = TEST_CONTEXT["policy"]["action_types"].values()
    assert named == {rules[k] for rules in policy for k in ("executor", "compensation") if k in rules}
    assert all(arn.startswith(EXECUTOR_ARN) for arn in named)             # the policy's executors only
    assert not [s for s in statements if s["Action"] in ("*", "states:*", "lambda:*")]


def test_executors_are_workflow_tasks_with_their_own_timeout_retry_and_catch(template):
    states = definition(template)["States"]
    for name in ("RunAction", "Stage", "ExecuteFirst"):
        task = states[name]
        assert task["Resource"] == "arn:aws:states:::lambda:invoke" and task["TimeoutSeconds"] == 900
        assert "FunctionName.$" in task["Parameters"] and "idempotency_key.$" in task["Parameters"]["Payload"]
        assert task["Retry"] and {"ErrorEquals": ["States.ALL"], "ResultPath": "$.action_error",
                                  "Next": "Conclude"} in task["Catch"]
    lambdas = [p for p in resources(template, "AWS::IAM::Policy").values()
               if "ConcludeRole" in json.dumps(p["Properties"]["Roles"])]
    assert "lambda:InvokeFunction" not in json.dumps(lambdas)       # no Lambda waits on another Lambda
    for name in ("Prepare", "Decided", "Unvetoed", "Kept", "Expired", "Escalate", "Conclude"):   # idempotent: retried
        assert {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 3,
                "BackoffRate": 2} in states[name]["Retry"]
    for name in ("RequestReview", "VetoWindow", "ReverseWindow", "SignOff"):   # callback tasks: a named error only
        retried = [error for retry in states[name]["Retry"] for error in retry["ErrorEquals"]]
        assert "RequestNotDelivered" in retried      # an AWS call past the SDK's retries: ask again
        assert not {"States.TaskFailed", "States.ALL"} & set(retried)   # these would retry a rejection


def test_only_the_dispatcher_and_the_reconciler_may_answer_task_tokens(template):
    answering = [p for p in resources(template, "AWS::IAM::Policy").values()
                 if "states:SendTaskSuccess" in json.dumps(p)]
    roles = sorted(json.dumps(p["Properties"]["Roles"]) for p in answering)
    assert len(answering) == 2 and "DispatcherRole" in roles[0] and "ReconcilerRole" in roles[1]


def test_the_reconciler_runs_on_a_schedule_and_shares_the_dispatchers_timeout(template):
    [rule] = [r["Properties"] for r in resources(template, "AWS::Events::Rule").values()
              if "undispatched" in r["Properties"]["Description"]]
    assert rule["ScheduleExpression"] == "rate(1 minute)" and rule["State"] == "ENABLED"
    functions = {k: f["Properties"] for k, f in resources(template, "AWS::Lambda::Function").items()}
    dispatcher = next(f for k, f in functions.items() if "Dispatcher" in k)
    reconciler = next(f for k, f in functions.items() if "Reconciler" in k)
    assert rule["Targets"][0]["Arn"]["Fn::GetAtt"][0] in [k for k in functions if "Reconciler" in k]
    assert dispatcher["Timeout"] == 30
    for fn in (dispatcher, reconciler):      # one number: both derive the stale claim age from it
        assert fn["Environment"]["Variables"]["DISPATCHER_TIMEOUT_SECONDS"] == "30"


def test_pending_reviews_table(template):
    template.has_resource_properties("AWS::DynamoDB::Table", {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "BillingMode": "PAY_PER_REQUEST",
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": Match.any_value()},
        "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
        "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
        "GlobalSecondaryIndexes": [Match.object_like({
            "IndexName": "by-reviewer",
            "KeySchema": [{"AttributeName": "reviewer", "KeyType": "HASH"},
                          {"AttributeName": "pending_until", "KeyType": "RANGE"}]}),
            Match.object_like({"IndexName": "by-reminder",
                               "KeySchema": [{"AttributeName": "reminder", "KeyType": "HASH"},
                                             {"AttributeName": "remind_at", "KeyType": "RANGE"}]}),
            Match.object_like({"IndexName": "by-outbox", "Projection": {"ProjectionType": "KEYS_ONLY"},
                               "KeySchema": [{"AttributeName": "outbox", "KeyType": "HASH"},
                                             {"AttributeName": "decided_epoch", "KeyType": "RANGE"}]}),
            Match.object_like({"IndexName": "by-action-type",     # the review page's precedents
                               "KeySchema": [{"AttributeName": "decided_type", "KeyType": "HASH"},
                                             {"AttributeName": "decided_epoch", "KeyType": "RANGE"}]})],
    })


def test_dispatcher_reads_the_stream_with_retries_bisect_and_a_dead_letter_queue(template):
    template.has_resource_properties("AWS::Lambda::EventSourceMapping", {
        "BisectBatchOnFunctionError": True, "MaximumRetryAttempts": 8, "StartingPosition": "TRIM_HORIZON",
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "DestinationConfig": {"OnFailure": {"Destination": Match.any_value()}},
        "FilterCriteria": {"Filters": [{"Pattern": Match.string_like_regexp('"DECIDED"')}]},
    })


def test_notifications_are_encrypted_tls_only_and_filtered_per_reviewer(template):
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties("AWS::SNS::TopicPolicy", {"PolicyDocument": {"Statement": Match.array_with([
        Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})])}})
    subs = [s["Properties"] for s in resources(template, "AWS::SNS::Subscription").values()]
    assert sorted((s["Endpoint"], json.dumps(s["FilterPolicy"])) for s in subs) == [
        (f"{r}@example.com", f'{{"reviewer": ["{r}"]}}') for r in ("alice", "bob", "carol")]
    assert all(s["Protocol"] == "email" and "RedrivePolicy" in s for s in subs)


def test_both_apis_have_access_logs_without_query_strings_and_throttling(template):
    stages = resources(template, "AWS::ApiGateway::Stage")
    assert sorted(s["Properties"]["StageName"] for s in stages.values()) == ["review", "v1"]
    for stage in (s["Properties"] for s in stages.values()):
        assert stage["TracingEnabled"] is True
        log_format = json.loads(stage["AccessLogSetting"]["Format"])
        assert log_format["resource"] == "$context.resourcePath"
        assert "querystring" not in stage["AccessLogSetting"]["Format"].lower()
        assert "$context.path" not in stage["AccessLogSetting"]["Format"]
        [settings] = stage["MethodSettings"]
        assert settings["ThrottlingRateLimit"] == 20 and settings["ThrottlingBurstLimit"] == 40
        assert settings["DataTraceEnabled"] is False
    methods = sorted((m["Properties"]["HttpMethod"], m["Properties"]["AuthorizationType"])
                     for m in resources(template, "AWS::ApiGateway::Method").values())
    assert methods == [("GET", "NONE"), ("GET", "NONE"), ("HEAD", "NONE"), ("HEAD", "NONE"), ("POST", "AWS_IAM"),
                       ("POST", "NONE")]      # a review and the inbox (GET, HEAD); a decision; a submission


def test_the_submit_path_is_iam_authorised_starts_the_gate_with_no_lambda_and_stamps_the_caller(template):
    [submit] = [m["Properties"] for m in resources(template, "AWS::ApiGateway::Method").values()
                if m["Properties"]["AuthorizationType"] == "AWS_IAM"]
    integration = submit["Integration"]
    assert integration["Type"] == "AWS" and integration["PassthroughBehavior"] == "NEVER"
    assert ":states:action/StartExecution" in json.dumps(integration["Uri"])
    rendered = json.dumps(integration["RequestTemplates"]["application/json"])
    assert "$context.identity.userArn" in rendered and "$util.base64Encode($input.body)" in rendered
    assert "Idempotency-Key" in rendered
    role = integration["Credentials"]["Fn::GetAtt"][0]
    [policy] = [p["Properties"]["PolicyDocument"]["Statement"] for p in resources(template, "AWS::IAM::Policy").values()
                if p["Properties"]["Roles"] == [{"Ref": role}]]
    assert [s["Action"] for s in policy] == ["states:StartExecution"]   # start the gate, nothing else
    starters = [p["Properties"]["Roles"] for p in resources(template, "AWS::IAM::Policy").values()
                if "states:StartExecution" in json.dumps(p)]
    functions = {f["Properties"]["Handler"]: f["Properties"] for f in resources(template, "AWS::Lambda::Function").values()}
    calibrator = functions["lambdas.calibrate.handler"]["Role"]["Fn::GetAtt"][0]
    # no other role in the stack may start executions: the submit path, and the calibrator (policy.autonomy only)
    assert sorted(starters, key=json.dumps) == sorted([[{"Ref": role}], [{"Ref": calibrator}]], key=json.dumps)
    prepare = functions["lambdas.prepare.handler"]["Environment"]["Variables"]
    assert prepare["CALIBRATOR_PRINCIPAL"] == {"Fn::GetAtt": [calibrator, "Arn"]}   # the one policy.autonomy submitter
    params = {p["Properties"]["Name"]: p["Properties"] for p in resources(template, "AWS::SSM::Parameter").values()}
    registry = {r["id"]: r for r in json.loads(params["/countersign/test/reviewers"]["Value"])}
    assert registry["carol"]["principals"] == ["arn:aws:iam::123456789012:user/carol-*"]   # read by Prepare
    assert "REVIEWER_PRINCIPALS" not in prepare and "REGISTRY_PARAMETER" in prepare
    assert prepare["SUBMIT_AUTHENTICATED_ONLY"] == "false"          # on by default in stage prod


def test_audit_bucket_is_write_once_versioned_encrypted_and_logged_elsewhere(template):
    buckets = resources(template, "AWS::S3::Bucket")
    audit = next(b["Properties"] for b in buckets.values() if b["Properties"].get("ObjectLockEnabled"))
    assert audit["ObjectLockConfiguration"] == {"ObjectLockEnabled": "Enabled", "Rule": {
        "DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}}
    assert audit["VersioningConfiguration"] == {"Status": "Enabled"}
    rule = audit["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert audit["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                       "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    target = audit["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
    assert target in buckets and not buckets[target]["Properties"].get("ObjectLockEnabled")
    for policy in resources(template, "AWS::S3::BucketPolicy").values():
        assert "aws:SecureTransport" in json.dumps(policy)


def test_nobody_may_delete_audit_records_or_loosen_their_lock(template):
    text = json.dumps(resources(template, "AWS::IAM::Policy"))
    for action in ("s3:DeleteObject", "s3:PutObjectRetention", "s3:BypassGovernanceRetention",
                   "s3:PutBucketObjectLockConfiguration", "s3:*"):
        assert action not in text


def test_link_key_is_a_kms_hmac_key_and_data_keys_rotate(template):
    keys = [k["Properties"] for k in resources(template, "AWS::KMS::Key").values()]
    assert [k for k in keys if k.get("KeySpec") == "HMAC_256" and k.get("KeyUsage") == "GENERATE_VERIFY_MAC"]
    assert all(k.get("EnableKeyRotation") for k in keys if "KeySpec" not in k)


def test_lambdas_use_the_current_runtime_powertools_layer_tracing_and_explicit_limits(template):
    functions = [f["Properties"] for f in resources(template, "AWS::Lambda::Function").values()]
    assert len(functions) == 11
    for fn in functions:
        assert fn["Runtime"] == "python3.14" and fn["MemorySize"] and fn["Timeout"]
        assert fn["TracingConfig"] == {"Mode": "Active"}
        assert fn["LoggingConfig"]["LogFormat"] == "JSON"
        assert "AWSLambdaPowertoolsPythonV3-python314-x86_64" in json.dumps(fn["Layers"])
        assert "TASK_TOKEN" not in json.dumps(fn.get("Environment", {}))


def test_policy_parameter_holds_the_validated_policy_with_its_version(template, synthesized):
    params = {p["Properties"]["Name"]: p["Properties"] for p in resources(template, "AWS::SSM::Parameter").values()}
    assert params["/countersign/test/kill-switch"]["Value"] == "off"
    assert params["/countersign/test/kill-switch"]["AllowedPattern"] == "^(off|human|halt)$"
    props = params["/countersign/test/policy"]
    policy = json.loads(props["Value"])
    assert len(policy["version"]) == 12 and "refund.issue" in policy["action_types"]


def test_the_reviewer_registry_is_deployed_to_ssm_and_read_by_prepare_and_the_desk_only(template):
    params = {p["Properties"]["Name"]: p["Properties"] for p in resources(template, "AWS::SSM::Parameter").values()}
    registry = {r["id"]: r for r in json.loads(params["/countersign/test/reviewers"]["Value"])}
    assert registry["carol"]["roles"] == ["finance"] and registry["carol"]["authority"] == {"risk": "medium"}
    assert registry["carol"]["trained_on"] == "2026-10-02" and registry["bob"]["active"] is True
    readers = {name for name, fn in resources(template, "AWS::Lambda::Function").items()
               if fn["Properties"]["Environment"]["Variables"].get("REGISTRY_PARAMETER")}
    assert len(readers) == 2 and all(("Prepare" in n) or ("ReviewApi" in n) for n in readers)
    policies = json.dumps([p["Properties"] for p in resources(template, "AWS::IAM::Policy").values()
                           if "ReviewerRegistry" in json.dumps(p["Properties"])])
    assert policies.count("ssm:GetParameter") >= 2 and "ssm:PutParameter" not in policies


def test_reminders_are_swept_on_a_schedule(template):
    template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(5 minutes)",
                                                           "State": "ENABLED"})


def test_outputs_let_clients_find_the_stack(template):
    assert set(template.find_outputs("*")) >= {"StateMachineArn", "ReviewApiUrl", "AuditBucketName",
                                               "ReviewsTableName", "ReviewTopicArn", "PolicyParameterName",
                                               "KillSwitchParameterName", "DeadLetterQueueUrl",
                                               "ReviewerRegistryParameterName"}


def test_only_the_digest_function_may_sign_digests_with_a_p256_key_on_a_schedule(template):
    keys = resources(template, "AWS::KMS::Key")
    [(logical, key)] = [(k, v["Properties"]) for k, v in keys.items() if v["Properties"].get("KeySpec") == "ECC_NIST_P256"
                        and "Countersign audit digest" in v["Properties"]["Description"]]
    assert key["KeyUsage"] == "SIGN_VERIFY"
    statements = key["KeyPolicy"]["Statement"]
    signers = {s["Sid"]: s for s in statements if "kms:Sign" in json.dumps(s["Action"]) or s["Action"] == "kms:*"}
    assert set(signers) == {"OnlyTheDigestFunctionSigns"}          # receipts have a key of their own: the next test
    assert signers["OnlyTheDigestFunctionSigns"]["Action"] == "kms:Sign"
    assert "FunctionsDigestRole" in json.dumps(signers["OnlyTheDigestFunctionSigns"]["Principal"])
    admin = next(s for s in statements if s.get("Sid") == "AdministerAndVerifyButNotSign")
    assert "kms:Sign" not in admin["Action"] and "kms:*" not in admin["Action"]
    digest = next(f["Properties"] for f in resources(template, "AWS::Lambda::Function").values()
                  if f["Properties"]["Handler"] == "lambdas.digest.handler")
    assert digest["Environment"]["Variables"]["DIGEST_KEY_ID"] == {"Fn::GetAtt": [logical, "Arn"]}
    fn_logical = next(k for k, f in resources(template, "AWS::Lambda::Function").items()
                      if f["Properties"]["Handler"] == "lambdas.digest.handler")
    rules = [r["Properties"] for r in resources(template, "AWS::Events::Rule").values()
             if fn_logical in json.dumps(r["Properties"].get("Targets", []))]
    assert [r["ScheduleExpression"] for r in rules] == ["rate(1 hour)"]


def test_only_conclude_may_sign_receipts_with_a_key_of_their_own_and_no_role_may_sign_through_iam(template):
    signing = {k: v["Properties"] for k, v in resources(template, "AWS::KMS::Key").items()
               if v["Properties"].get("KeySpec") == "ECC_NIST_P256"}
    signers = {k: [s["Sid"] for s in key["KeyPolicy"]["Statement"] if "kms:Sign" in json.dumps(s["Action"])]
               for k, key in signing.items()}
    assert sorted(signers.values()) == [["OnlyConcludeSignsReceipts"], ["OnlyTheDigestFunctionSigns"]]
    [(logical, key)] = [(k, signing[k]) for k, sids in signers.items() if sids == ["OnlyConcludeSignsReceipts"]]
    [grant] = [s for s in key["KeyPolicy"]["Statement"] if s.get("Sid") == "OnlyConcludeSignsReceipts"]
    functions = {k: f["Properties"] for k, f in resources(template, "AWS::Lambda::Function").items()}
    [(conclude_logical, conclude)] = [(k, f) for k, f in functions.items() if f["Handler"] == "lambdas.conclude.handler"]
    assert grant["Effect"] == "Allow" and grant["Action"] == "kms:Sign" and grant["Resource"] == "*"
    assert grant["Principal"] == {"AWS": {"Fn::GetAtt": [conclude["Role"]["Fn::GetAtt"][0], "Arn"]}}
    variables = conclude["Environment"]["Variables"]
    assert variables["RECEIPT_KEY_ID"] == {"Fn::GetAtt": [logical, "Arn"]} and variables["RECEIPT_VALID_HOURS"] == "24"
    assert [k for k, f in functions.items() if "RECEIPT_KEY_ID" in f.get("Environment", {}).get("Variables", {})] \
        == [conclude_logical]
    assert "kms:Sign" not in json.dumps([p["Properties"] for p in resources(template, "AWS::IAM::Policy").values()])
    payloads = {name: definition(template)["States"][name]["Parameters"]["Payload"]
                for name in ("RunAction", "ExecuteFirst", "Stage")}
    assert payloads["RunAction"]["receipt.$"] == "$.settled.run.receipt"
    assert payloads["ExecuteFirst"]["receipt"] is None and payloads["Stage"]["receipt"] is None   # before any verdict


def test_athena_reads_the_trail_through_projected_tables_and_runs_the_shared_sql(template):
    from countersign.evidence.audit_queries import QUERIES, RECORD_COLUMNS

    tables = {t["Properties"]["TableInput"]["Name"]: t["Properties"]["TableInput"]
              for t in resources(template, "AWS::Glue::Table").values()}
    assert sorted(tables) == ["autonomy", "canaries", "kill_switch", "records", "refusals"]
    assert "/canaries/${day}/" in json.dumps(tables["canaries"]["Parameters"]["storage.location.template"])
    records = tables["records"]
    assert records["Parameters"]["projection.enabled"] == "true"
    assert records["Parameters"]["projection.day.format"] == "yyyy/MM/dd"
    assert "/executions/${day}/" in json.dumps(records["Parameters"]["storage.location.template"])
    assert records["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert [c["Name"] for c in records["StorageDescriptor"]["Columns"]] == list(RECORD_COLUMNS)
    [workgroup] = [w["Properties"] for w in resources(template, "AWS::Athena::WorkGroup").values()]
    config = workgroup["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    named = {q["Properties"]["QueryString"] for q in resources(template, "AWS::Athena::NamedQuery").values()}
    assert named == {sql for _, sql in QUERIES.values()}      # the SQL the tests run on DuckDB, verbatim


def test_the_inbox_is_a_route_of_the_review_api_that_may_list_the_by_reviewer_index(template):
    [inbox] = [k for k, r in resources(template, "AWS::ApiGateway::Resource").items()
               if r["Properties"]["PathPart"] == "inbox"]
    methods = [m["Properties"] for m in resources(template, "AWS::ApiGateway::Method").values()
               if m["Properties"]["ResourceId"] == {"Ref": inbox}]
    assert sorted(m["HttpMethod"] for m in methods) == ["GET", "HEAD"]
    for method in methods:   # the token is required at the edge; the page cursor is optional
        assert method["RequestParameters"] == {"method.request.querystring.t": True,
                                               "method.request.querystring.after": False}
        assert "ReviewApi" in json.dumps(method["Integration"]["Uri"])
    policies = [p["Properties"] for p in resources(template, "AWS::IAM::Policy").values()
                if "ReviewApiRole" in json.dumps(p["Properties"]["Roles"])]
    assert "/index/by-reviewer" in json.dumps(policies)


def test_each_mode_deploys_the_digest_mailer_without_a_schedule(template):
    [(logical, fn)] = [(k, f["Properties"]) for k, f in resources(template, "AWS::Lambda::Function").items()
                       if f["Properties"]["Handler"] == "lambdas.mail_digest.handler"]
    assert fn["Environment"]["Variables"]["DIGEST_MINUTES"] == "0"
    request = next(f["Properties"] for f in resources(template, "AWS::Lambda::Function").values()
                   if f["Properties"]["Handler"] == "lambdas.request_review.handler")
    assert request["Environment"]["Variables"]["DIGEST_MINUTES"] == "0"
    assert not [r for r in resources(template, "AWS::Events::Rule").values()
                if logical in json.dumps(r["Properties"].get("Targets", []))]


def _statements(template: Template, *kinds: str):
    """(logical id, properties, statement) for every statement of the template's IAM policies."""
    for kind in kinds:
        for logical, res in resources(template, kind).items():
            for statement in res["Properties"]["PolicyDocument"]["Statement"]:
                yield logical, res["Properties"], statement


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def test_agent_submit_policy_submits_follows_and_reads_the_policy_and_nothing_else(template):
    [(logical, policy)] = resources(template, "AWS::IAM::ManagedPolicy").items()
    props = policy["Properties"]
    assert not {"Roles", "Users", "Groups"} & set(props)            # attached by the operator to the agent host
    assert template.to_json()["Outputs"]["AgentSubmitPolicyArn"]["Value"] == {"Ref": logical}
    statements = {s["Sid"]: s for s in props["PolicyDocument"]["Statement"]}
    assert {sid: s["Action"] for sid, s in statements.items()} == {
        "Submit": "execute-api:Invoke", "FollowExecutions": ["states:DescribeExecution", "states:GetExecutionHistory"],
        "ReadPolicy": "ssm:GetParameter", "FindStack": "cloudformation:DescribeStacks"}
    assert all(s["Effect"] == "Allow" and "Condition" not in s for s in statements.values())
    [submit_api] = [k for k, r in resources(template, "AWS::ApiGateway::RestApi").items()
                    if r["Properties"].get("Description") == "Countersign authenticated submissions"]
    [machine] = resources(template, "AWS::StepFunctions::StateMachine")
    [parameter] = [k for k, r in resources(template, "AWS::SSM::Parameter").items()
                   if r["Properties"]["Name"] == f"/countersign/{TEST_CONTEXT['stage']}/policy"]
    parts = {sid: s["Resource"]["Fn::Join"][1] for sid, s in statements.items()}
    assert {"Ref": submit_api} in parts["Submit"] and parts["Submit"][-1] == "/POST/submissions"   # only this path
    assert parts["FollowExecutions"][-3:] == [":execution:", {"Fn::GetAtt": [machine, "Name"]}, ":*"]
    assert parts["ReadPolicy"][-1] == {"Ref": parameter}
    assert parts["FindStack"][-1] == ":stack/Countersign-test/*"
    assert not [s for s in statements.values() if "states:StartExecution" in _listed(s["Action"])]   # stamped path only


def test_no_principal_but_the_workflows_role_may_invoke_an_executor(template):
    policy = TEST_CONTEXT["policy"]["action_types"]
    executors = sorted({rules[k] for rules in policy.values() for k in ("executor", "compensation") if k in rules})
    assert executors and all(arn.startswith(EXECUTOR_ARN) for arn in executors)   # external functions, by ARN
    [machine] = resources(template, "AWS::StepFunctions::StateMachine").values()
    role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    invoking = []
    for logical, props, statement in _statements(template, "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        actions = _listed(statement["Action"])
        if any(a == "*" or a.startswith("lambda:Invoke") or a == "lambda:*" for a in actions):
            named = sorted(r for r in _listed(statement["Resource"]) if r in executors or r == "*")
            if named:
                invoking.append((props.get("Roles"), named))
    assert invoking == [([{"Ref": role}], executors)]
    assert not [p for p in resources(template, "AWS::Lambda::Permission").values()
                if p["Properties"]["FunctionName"] in executors]
