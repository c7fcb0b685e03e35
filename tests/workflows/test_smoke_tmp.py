import json
def test_deploys(stack):
    print(stack.deployment.outputs)
    arn = stack.start({"schema_version": "1", "action": {"type": "refund.issue", "summary": "Refund $5", "parameters": {"customer_id": "1", "amount": 5, "currency": "USD"}}, "confidence": 0.95}, "smoke-1")
    got = stack.wait(arn)
    print(got)
    print(stack.states_entered(arn))
    assert got["status"] == "SUCCEEDED"
