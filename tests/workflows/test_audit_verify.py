"""The trail proves itself: signed digests over the real template in moto, and the tamper matrix.
Each tampering is detected with the right line; each is undone afterwards (the bucket is in
GOVERNANCE mode here, so a privileged test can do what a privileged attacker could)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from countersign.cli import client

from countersign.evidence import digests, trail
from countersign.adapters.aws import S3AuditStore
from countersign.evidence.verify import check
from tests.helpers import proposal, unique


@pytest.fixture(scope="module")
def audited(stack):
    """Two executions and a refusal on the record, then a digest covering them (its interval ends
    after them: the digest function's settling minute is skipped by passing ``now``)."""
    arns = [stack.start(proposal(confidence=0.97), unique("audited")) for _ in range(2)]
    refused = stack.start(proposal(confidence=1.5), unique("refused"))
    for arn in [*arns, refused]:
        stack.wait(arn)
    target = client.Target(stack.deployment.stack_name, stack.deployment.outputs, boto3.session.Session())
    store = S3AuditStore(boto3.client("s3"), stack.audit_bucket)
    key_id = stack.deployment.outputs["DigestKeyArn"]
    first = digests.write(store, boto3.client("kms"), key_id, now=datetime.now(timezone.utc) + timedelta(minutes=2))
    return {"target": target, "arns": arns, "refused": refused, "digest": first["key"], "store": store}


def verify(audited) -> list[str]:
    target = audited["target"]
    report = check(trail.read(target), trail.public_key(target), trail.lock_settings(target),
                   now=datetime.now(timezone.utc))
    return [p.line() for p in report.problems]


def keys_of(stack, arn) -> list[str]:
    name = arn.rsplit(":", 1)[1]
    return sorted(k for k in stack.audit.list_keys("executions/") if f"/{name}/" in k)


def test_a_clean_trail_is_intact_and_the_digest_signs_every_stream_head(stack, audited):
    assert verify(audited) == []
    digest = json.loads(audited["store"].get(audited["digest"]))
    listed = {e["stream"]: e["seq"] for e in digest["streams"]}
    for arn in audited["arns"]:
        last = keys_of(stack, arn)[-1]
        assert listed[last.rsplit("/", 1)[0]] == int(last[-11:-5])
    assert any(s.startswith("executions/") for s in listed) and digest["signing"]["algorithm"] == "ECDSA_SHA_256"


def test_an_interval_with_no_activity_still_gets_a_signed_digest(stack, audited):
    quiet = digests.write(audited["store"], boto3.client("kms"), stack.deployment.outputs["DigestKeyArn"],
                          now=datetime.now(timezone.utc) + timedelta(minutes=3))
    assert quiet["written"] and quiet["streams"] == 0
    assert verify(audited) == []


def _versions(s3, bucket: str, key: str) -> list[dict]:
    return s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])


@pytest.fixture
def tamper(stack):
    """Put, delete or re-lock objects as a privileged principal would; undone after the test."""
    s3, bucket, undo = boto3.client("s3"), stack.audit_bucket, []

    def put(key: str, body: bytes) -> None:
        version = s3.put_object(Bucket=bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256")["VersionId"]
        undo.append(lambda: s3.delete_object(Bucket=bucket, Key=key, VersionId=version, BypassGovernanceRetention=True))

    def delete(key: str) -> None:
        marker = s3.delete_object(Bucket=bucket, Key=key)["VersionId"]
        undo.append(lambda: s3.delete_object(Bucket=bucket, Key=key, VersionId=marker, BypassGovernanceRetention=True))

    def shorten(key: str, until: datetime) -> None:
        before = s3.head_object(Bucket=bucket, Key=key)["ObjectLockRetainUntilDate"]
        s3.put_object_retention(Bucket=bucket, Key=key, BypassGovernanceRetention=True,
                                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until})
        undo.append(lambda: s3.put_object_retention(Bucket=bucket, Key=key, Retention={
            "Mode": "GOVERNANCE", "RetainUntilDate": before}))

    def read(key: str) -> dict:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    yield type("Tamper", (), {"put": staticmethod(put), "delete": staticmethod(delete),
                              "shorten": staticmethod(shorten), "read": staticmethod(read)})
    for step in reversed(undo):
        step()


def dumps(record: dict) -> bytes:
    from countersign.rules import canonical

    return canonical.dumps(record).encode()


def test_a_modified_record_is_named(stack, audited, tamper):
    key = keys_of(stack, audited["arns"][0])[0]
    record = tamper.read(key)
    tamper.put(key, dumps({**record, "confidence": 0.1}))
    problems = verify(audited)
    assert f"{key}: the record's content does not match its hash (expected hash {record['hash']})" in problems


def test_a_deleted_record_and_a_deleted_tail_are_named(stack, audited, tamper):
    first, second = keys_of(stack, audited["arns"][0]), keys_of(stack, audited["arns"][1])
    tamper.delete(first[0])
    tamper.delete(second[-1])                    # a stream's tail: the chain alone cannot see it
    problems = verify(audited)
    assert f"{first[0]}: missing (expected seq 1 of {len(first)} in its stream)" in problems
    assert (f"{second[-1]}: missing (expected the record that digest {audited['digest']} signed as the "
            "stream's head)") in problems


def test_two_records_swapped_are_named(stack, audited, tamper):
    keys = keys_of(stack, audited["arns"][0])
    one, two = tamper.read(keys[0]), tamper.read(keys[1])
    tamper.put(keys[0], dumps(two))
    tamper.put(keys[1], dumps(one))
    problems = verify(audited)
    assert f"{keys[0]}: holds stream {two['stream']} seq 2 (expected stream {one['stream']} seq 1, as its key says)" \
        in problems


def test_a_forged_record_inserted_into_a_chain_is_named(stack, audited, tamper):
    from countersign.evidence.audit import record_hash

    keys = keys_of(stack, audited["arns"][0])
    genuine = tamper.read(keys[1])
    forged = {**genuine, "event": "decision_recorded", "rationale": "approved by nobody"}
    forged["hash"] = record_hash(forged)             # a well-formed record, but not the one the chain links
    tamper.put(keys[1], dumps(forged))
    problems = verify(audited)
    assert any(p.startswith(keys[1]) and "differs from what the digest signed" in p for p in problems) or \
        any(p.startswith(keys[2]) and "prev_hash does not link" in p for p in problems)


@pytest.mark.parametrize("forgery", ["replaced", "signed by another key"])
def test_a_replaced_or_forged_digest_is_named(stack, audited, tamper, forgery):
    import base64

    digest = tamper.read(audited["digest"])
    edited = {**digest, "streams": digest["streams"][1:]}        # a stream dropped from what was signed
    if forgery == "signed by another key":
        kms = boto3.client("kms")
        other = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        edited["signature"] = base64.b64encode(kms.sign(KeyId=other, Message=digests.signed_hash(edited),
                                                        MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
                                               ["Signature"]).decode()
    tamper.put(audited["digest"], dumps(edited))
    assert f"{audited['digest']}: the digest's signature does not verify (expected an ECDSA P-256 signature by " \
           "the deployed digest key)" in verify(audited)


def test_a_dropped_digest_breaks_the_digest_chain(stack, audited, tamper):
    later = digests.write(audited["store"], boto3.client("kms"), stack.deployment.outputs["DigestKeyArn"],
                          now=datetime.now(timezone.utc) + timedelta(minutes=4))
    assert later["written"]
    tamper.delete(audited["digest"])
    problems = verify(audited)
    assert any(p.startswith("digests/") and "the digest chain is broken here" in p for p in problems), problems


def test_a_shortened_retention_is_named(stack, audited, tamper):
    key = keys_of(stack, audited["arns"][1])[0]
    tamper.shorten(key, datetime.now(timezone.utc) + timedelta(hours=1))
    problems = verify(audited)
    assert any(p.startswith(f"{key}: retained until") and "(1 days)" in p for p in problems)
