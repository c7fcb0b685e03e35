"""A Step Functions Standard workflow loaded from an ASL file in ``statemachines/``.

The definition goes inline into the template (``DefinitionBody.from_string`` plus
``definition_substitutions``) so it can be asserted and rendered. CDK grants nothing for a raw
definition, so every function the ASL calls is granted explicitly.
"""
from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from countersign.workflow.asl import check_budget

ASL_DIR = Path(__file__).resolve().parent.parent / "statemachines"


class Workflow(Construct):
    def __init__(self, scope: Construct, cid: str, *, asl: str | Path, name: str,
                 functions: dict[str, lambda_.IFunction], retain_logs: bool, max_human_gates: int) -> None:
        super().__init__(scope, cid)
        self.asl_path = ASL_DIR / asl
        # The seed's checkpoint budget, checked on the ASL itself: synth fails naming the path.
        check_budget(json.loads(self.asl_path.read_text()), max_human_gates, name=self.asl_path.name)
        log_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.ONE_YEAR,
                                  removal_policy=RemovalPolicy.RETAIN if retain_logs else RemovalPolicy.DESTROY)
        self.state_machine = sfn.StateMachine(
            self, "StateMachine", state_machine_name=name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(self.asl_path.read_text()),
            definition_substitutions={f"{key}FunctionArn": fn.function_arn for key, fn in functions.items()},
            # Level ALL for a complete trail of state changes, but without execution data:
            # task states' inputs carry the task token, which must never reach a log.
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True)
        for fn in functions.values():
            fn.grant_invoke(self.state_machine)
