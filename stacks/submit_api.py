"""The authenticated submit path: ``POST /submissions``, IAM-authorised (SigV4), an API Gateway
service integration to ``states:StartExecution`` with no Lambda.

Its request template wraps the body, base64-encoded, in an envelope with the caller's IAM
principal (``$context.identity.userArn``), which API Gateway takes from the verified signature: the
proposal cannot write it (``countersign/workflow/submission.py``). The execution name comes from the
``Idempotency-Key`` header, so a retried submission joins the execution it started.
"""
from __future__ import annotations

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from .review_api import logged_rest_api

REQUEST_TEMPLATE = """#set($key = $input.params('Idempotency-Key'))
{"stateMachineArn": "STATE_MACHINE_ARN",
#if($key != "") "name": "$util.escapeJavaScript($key)",
#end "input": "{\\"submission\\": {\\"proposal_base64\\": \\"$util.base64Encode($input.body)\\", \\"submitted_by\\": \\"$context.identity.userArn\\", \\"request_id\\": \\"$context.requestId\\"}}"}"""


class SubmitApi(Construct):
    def __init__(self, scope: Construct, cid: str, *, state_machine: sfn.IStateMachine, rate_limit: int = 20,
                 burst_limit: int = 40, retain_logs: bool = False) -> None:
        super().__init__(scope, cid)
        self.api = logged_rest_api(self, description="Countersign authenticated submissions", stage_name="v1",
                                   rate_limit=rate_limit, burst_limit=burst_limit, retain_logs=retain_logs,
                                   cloud_watch_role=False)   # the review API's account-level role serves both
        self.role = iam.Role(self, "StartRole", assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
                             description="Countersign submit path: start the gate's executions, nothing else")
        state_machine.grant_start_execution(self.role)
        integration = apigw.AwsIntegration(
            service="states", action="StartExecution", integration_http_method="POST",
            options=apigw.IntegrationOptions(
                credentials_role=self.role, passthrough_behavior=apigw.PassthroughBehavior.NEVER,
                request_templates={"application/json": REQUEST_TEMPLATE.replace(
                    "STATE_MACHINE_ARN", state_machine.state_machine_arn)},
                integration_responses=[
                    apigw.IntegrationResponse(status_code="200"),
                    apigw.IntegrationResponse(status_code="400", selection_pattern=r"4\d{2}"),
                    apigw.IntegrationResponse(status_code="502", selection_pattern=r"5\d{2}")]))
        validator = self.api.add_request_validator("Validator", validate_request_parameters=True)
        self.api.root.add_resource("submissions").add_method(
            "POST", integration, authorization_type=apigw.AuthorizationType.IAM, request_validator=validator,
            request_parameters={"method.request.header.Idempotency-Key": False},
            method_responses=[apigw.MethodResponse(status_code=code) for code in ("200", "400", "502")])

    @property
    def url(self) -> str:
        return self.api.url
