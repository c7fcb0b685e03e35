"""Scheduled (EventBridge), also run by ``countersign audit digest``: sign the heads of every audit
stream that changed since the last digest, and write the digest into the locked bucket."""
import os

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from countersign.adapters.aws import S3AuditStore
from countersign.evidence.digests import write

logger, metrics = Logger(), Metrics()
STORE = S3AuditStore(boto3.client("s3"), os.environ["AUDIT_BUCKET"])
KMS, KEY_ID = boto3.client("kms"), os.environ["DIGEST_KEY_ID"]


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event, context):
    written = write(STORE, KMS, KEY_ID)
    logger.info("audit digest", extra=written)
    metrics.add_metric(name="DigestStreams", unit=MetricUnit.Count, value=written["streams"])
    return written
