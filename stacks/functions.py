"""Lambda functions with the project's defaults: current Python runtime, Powertools from AWS's
public layer, JSON logs into a log group with retention, X-Ray, explicit memory and timeout, and a
role of their own that can write only their own logs (each grant is added by the caller)."""
from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from .packaging import dependency_layer_dir, function_code_dir

RUNTIME = lambda_.Runtime.PYTHON_3_14
METRICS_NAMESPACE, SERVICE = "Countersign", "countersign"   # Powertools: every metric's namespace and dimension
POWERTOOLS_LAYER = "arn:{partition}:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-x86_64:{version}"


class Functions(Construct):
    def __init__(self, scope: Construct, cid: str, *, powertools_layer_version: int, retain_logs: bool) -> None:
        super().__init__(scope, cid)
        self.code = lambda_.Code.from_asset(function_code_dir())
        self.layers = [
            lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", POWERTOOLS_LAYER.format(
                partition=Aws.PARTITION, region=Aws.REGION, version=powertools_layer_version)),
            lambda_.LayerVersion(self, "Dependencies", code=lambda_.Code.from_asset(dependency_layer_dir()),
                                 compatible_runtimes=[RUNTIME], description="Jinja2 and MarkupSafe"),
        ]
        self.retain_logs = retain_logs

    def add(self, name: str, handler: str, *, description: str, environment: dict[str, str],
            memory: int = 256, timeout: int = 15) -> lambda_.Function:
        log_group = logs.LogGroup(self, f"{name}Logs", retention=logs.RetentionDays.ONE_YEAR,
                                  removal_policy=RemovalPolicy.RETAIN if self.retain_logs else RemovalPolicy.DESTROY)
        role = iam.Role(self, f"{name}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description=f"Countersign {name}: own logs only, plus explicit grants")
        role.add_to_policy(iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                               resources=[log_group.log_group_arn]))
        return lambda_.Function(
            self, name, runtime=RUNTIME, handler=handler, code=self.code, layers=self.layers,
            description=description, memory_size=memory, timeout=Duration.seconds(timeout), role=role,
            log_group=log_group, logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            tracing=lambda_.Tracing.ACTIVE, architecture=lambda_.Architecture.X86_64,
            environment={"POWERTOOLS_SERVICE_NAME": SERVICE,
                         "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE, **environment})
