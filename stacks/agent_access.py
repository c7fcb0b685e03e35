"""AgentSubmitPolicy: what a host that runs ``countersign mcp`` (or ``countersign submit``) needs
against this stack, and nothing else. Attach it to the agent host's role."""
from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct


class AgentAccess(Construct):
    """A managed policy: submit through the authenticated path (which stamps the caller's IAM
    principal as ``submitted_by``), read the gate's executions, read the policy and the stack's
    outputs (where the client finds them)."""

    def __init__(self, scope: Construct, cid: str, *, gate) -> None:
        super().__init__(scope, cid)
        stack = Stack.of(self)
        machine = gate.workflow.state_machine
        executions = stack.format_arn(service="states", resource="execution", arn_format=ArnFormat.COLON_RESOURCE_NAME,
                                      resource_name=f"{machine.state_machine_name}:*")
        self.policy = iam.ManagedPolicy(self, "AgentSubmitPolicy", description=(
            "Countersign agent host: submit proposals to the gate, follow their executions, read the policy"),
            statements=[
                iam.PolicyStatement(sid="Submit", actions=["execute-api:Invoke"], resources=[
                    gate.submit_api.api.arn_for_execute_api("POST", "/submissions", gate.submit_api.api
                                                            .deployment_stage.stage_name)]),
                iam.PolicyStatement(sid="FollowExecutions", actions=["states:DescribeExecution",
                                                                      "states:GetExecutionHistory"],
                                    resources=[executions]),
                iam.PolicyStatement(sid="ReadPolicy", actions=["ssm:GetParameter"],
                                    resources=[gate.policy.parameter_arn]),
                iam.PolicyStatement(sid="FindStack", actions=["cloudformation:DescribeStacks"], resources=[
                    stack.format_arn(service="cloudformation", resource="stack",
                                     resource_name=f"{stack.stack_name}/*")]),
            ])
