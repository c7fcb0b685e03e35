"""The calibrator's AWS adapters: the adjustments item beside the deployed policy (DynamoDB), and
starting a gate execution as the calibrator (Step Functions)."""
from __future__ import annotations

import base64
import json
from typing import Any


class DynamoAutonomy:
    """The adjustments beside the deployed policy (``rules.autonomy``): one item in the reviews table,
    replaced whole by a conditional write on its version, so a demotion and an approval racing each
    other cannot both land on the same state. ``journal`` holds the audit records of changes not yet
    in the trail (written with the change, removed once appended), so a crash between the two loses
    nothing: the next reader appends them."""

    KEY = {"pk": {"S": "AUTONOMY"}, "sk": {"S": "CURRENT"}}

    def __init__(self, ddb, table: str) -> None:
        self.ddb, self.table = ddb, table

    def current(self) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
        """(version, adjustments by action type, journal); version 0 when nothing was ever adjusted."""
        item = self.ddb.get_item(TableName=self.table, Key=self.KEY, ConsistentRead=True).get("Item")
        if not item:
            return 0, {}, []
        return int(item["v"]["N"]), json.loads(item["adjustments"]["S"]), json.loads(item["journal"]["S"])

    def replace(self, version: int, adjustments: dict[str, Any], journal: list[dict[str, Any]]) -> bool:
        """Write the next state if the stored version is still ``version``; False if it moved on."""
        condition = ("attribute_not_exists(pk)", {}) if version == 0 else ("v = :v", {":v": {"N": str(version)}})
        try:
            self.ddb.put_item(TableName=self.table, Item={
                **self.KEY, "v": {"N": str(version + 1)}, "adjustments": {"S": json.dumps(adjustments, sort_keys=True)},
                "journal": {"S": json.dumps(journal, sort_keys=True)}},
                ConditionExpression=condition[0], **({"ExpressionAttributeValues": condition[1]} if condition[1] else {}))
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True


class StepFunctionsGate:
    """Starts a gate execution the way the authenticated submit path does: the proposal in an
    envelope naming the starter's IAM principal. The calibrator's role is the only other principal
    allowed to start the gate, and only ``policy.autonomy`` needs it."""

    def __init__(self, sfn, state_machine_arn: str, principal: str) -> None:
        self.sfn, self.arn, self.principal = sfn, state_machine_arn, principal

    def __call__(self, proposal: dict[str, Any]) -> str:
        from countersign.rules.proposal import execution_name
        from countersign.workflow.submission import ENVELOPE

        name = execution_name(proposal)
        body = base64.b64encode(json.dumps(proposal, sort_keys=True).encode()).decode()
        envelope = {ENVELOPE: {"proposal_base64": body, "submitted_by": self.principal, "request_id": name}}
        try:
            return self.sfn.start_execution(stateMachineArn=self.arn, name=name,
                                            input=json.dumps(envelope))["executionArn"]
        except self.sfn.exceptions.ExecutionAlreadyExists:   # proposed before: that review stands
            return self.arn.replace(":stateMachine:", ":execution:") + ":" + name
