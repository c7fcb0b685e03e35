"""The Countersign stack: one ApprovalGate from configuration, its outputs, and its nag acknowledgments."""
from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from .agent_access import AgentAccess
from .approval_gate import ApprovalGate
from .config import Config
from .nag import acknowledge
from .scanners import acknowledge_scanners


class CountersignStack(Stack):
    def __init__(self, scope: Construct, cid: str, *, config: Config, **kwargs) -> None:
        super().__init__(scope, cid, description="Countersign: human approval gate for AI actions", **kwargs)
        self.gate = ApprovalGate(self, "Gate", config=config)
        self.agents = AgentAccess(self, "Agents", gate=self.gate)
        outputs = {
            "StateMachineArn": self.gate.workflow.state_machine.state_machine_arn,
            "ReviewApiUrl": self.gate.api.url,
            "SubmitApiUrl": self.gate.submit_api.url,
            "AuditBucketName": self.gate.audit.bucket.bucket_name,
            "ReviewsTableName": self.gate.reviews.table.table_name,
            "ReviewTopicArn": self.gate.notifications.topic.topic_arn,
            "PolicyParameterName": self.gate.policy.parameter_name,
            "KillSwitchParameterName": self.gate.kill_switch.parameter_name,
            "ReviewerRegistryParameterName": self.gate.registry.parameter_name,
            "DeadLetterQueueUrl": self.gate.dead_letters.queue_url,
            "ReconcilerFunctionName": self.gate.functions["Reconciler"].function_name,
            "DigestFunctionName": self.gate.functions["Digest"].function_name,
            "CalibratorFunctionName": self.gate.functions["Calibrator"].function_name,
            "DigestKeyArn": self.gate.audit.digest_key.key_arn,
            "ReceiptKeyArn": self.gate.audit.receipt_key.key_arn,
            "AuditDatabaseName": self.gate.queries.database_name,
            "AuditWorkGroupName": self.gate.queries.workgroup.name,
            "OpsTopicArn": self.gate.operations.topic.topic_arn,
            "DashboardName": self.gate.operations.dashboard.dashboard_name,
            "AgentSubmitPolicyArn": self.agents.policy.managed_policy_arn,
        }
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
        acknowledge(self)
        acknowledge_scanners(self)
