"""The floor under a decision's POST: one raw ``UpdateItem`` against the sandbox's own AWS
endpoint (moto), on a scratch table with no stream, from the same machine. ``bench/sandbox.py``
prints the POST's p50 as a multiple of it."""
from __future__ import annotations

import time
import uuid

import boto3


def update_item_ms(endpoint: str, count: int = 200) -> list[float]:
    """Milliseconds of ``count`` conditional UpdateItem calls, one after the other."""
    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="sandbox", aws_secret_access_key="sandbox")
    table = f"bench-raw-{uuid.uuid4().hex[:8]}"
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    took = []
    try:
        for i in range(count):
            began = time.perf_counter()
            ddb.update_item(TableName=table, Key={"pk": {"S": f"r{i}"}}, UpdateExpression="SET #s = :d",
                            ConditionExpression="attribute_not_exists(#s)", ExpressionAttributeNames={"#s": "status"},
                            ExpressionAttributeValues={":d": {"S": "DECIDED"}})
            took.append((time.perf_counter() - began) * 1000)
    finally:
        ddb.delete_table(TableName=table)
    return took
