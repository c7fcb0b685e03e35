"""The reviewers' HTTP API: API Gateway (REST) with access logs and throttling, proxying to one
Lambda. Authorisation is the signed link checked by that Lambda, so access logs record the
resource path only, never the query string that carries the link token."""
from __future__ import annotations

import json

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime", "method": "$context.httpMethod",
    "resource": "$context.resourcePath", "status": "$context.status",
    "responseLength": "$context.responseLength", "userAgent": "$context.identity.userAgent",
    "latencyMs": "$context.responseLatency",
}


def logged_rest_api(scope: Construct, *, description: str, stage_name: str, rate_limit: int, burst_limit: int,
                    retain_logs: bool, cloud_watch_role: bool = True) -> apigw.RestApi:
    """A regional REST API with JSON access logs (no query strings, no bodies), X-Ray, metrics,
    error logging and stage throttling: the shape both Countersign APIs share."""
    access_logs = logs.LogGroup(scope, "AccessLogs", retention=logs.RetentionDays.ONE_YEAR,
                                removal_policy=RemovalPolicy.RETAIN if retain_logs else RemovalPolicy.DESTROY)
    return apigw.RestApi(
        scope, "Api", description=description,
        endpoint_types=[apigw.EndpointType.REGIONAL], cloud_watch_role=cloud_watch_role,
        cloud_watch_role_removal_policy=RemovalPolicy.DESTROY if cloud_watch_role else None,
        deploy_options=apigw.StageOptions(
            stage_name=stage_name, tracing_enabled=True, metrics_enabled=True,
            logging_level=apigw.MethodLoggingLevel.ERROR, data_trace_enabled=False,
            throttling_rate_limit=rate_limit, throttling_burst_limit=burst_limit,
            access_log_destination=apigw.LogGroupLogDestination(access_logs),
            access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS))))


class ReviewApi(Construct):
    def __init__(self, scope: Construct, cid: str, *, handler: lambda_.IFunction, rate_limit: int = 20,
                 burst_limit: int = 40, retain_logs: bool = False) -> None:
        super().__init__(scope, cid)
        self.api = logged_rest_api(self, description="Countersign review links", stage_name="review",
                                   rate_limit=rate_limit, burst_limit=burst_limit, retain_logs=retain_logs)
        integration = apigw.LambdaIntegration(handler)
        validator = self.api.add_request_validator("Validator", validate_request_parameters=True,
                                                   validate_request_body=True)
        review = self.api.root.add_resource("reviews").add_resource("{review_id}")
        for method in ("GET", "HEAD"):
            review.add_method(method, integration, request_validator=validator, request_parameters={
                "method.request.path.review_id": True, "method.request.querystring.t": True})
        review.add_resource("decision").add_method("POST", integration, request_validator=validator,
                                                   request_parameters={"method.request.path.review_id": True})
        inbox = self.api.root.add_resource("inbox")   # a reviewer's pending reviews (GET /inbox?t=…)
        for method in ("GET", "HEAD"):
            inbox.add_method(method, integration, request_validator=validator, request_parameters={
                "method.request.querystring.t": True, "method.request.querystring.after": False})

    @property
    def url(self) -> str:
        return self.api.url
