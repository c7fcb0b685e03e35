"""Signed digests: proof that nothing is missing from the audit trail.

The hash chain shows a record was changed or reordered; it cannot show that a stream's tail, or a
whole stream, is gone. Every interval the digest function writes one digest into the locked
bucket: the head (last ``seq`` and ``hash``) of every stream that changed in the interval, the
interval, and the previous digest's hash, signed with a KMS asymmetric key (ECC_NIST_P256,
ECDSA_SHA_256) that only the digest function may use. An interval with no activity still gets a
digest, so silence is provable too.

What is signed: the 32-byte SHA-256 of the digest's canonical JSON (without ``signature``), sent
to KMS as a RAW message. Verifying is ``ECDSA(SHA-256)`` over those 32 bytes with the public key.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from countersign.rules import canonical

DIGEST_SCHEMA = "countersign.digest/1"
PREFIX = "digests/"
TRAIL_PREFIXES = ("executions/", "refusals/", "kill-switch/", "autonomy/", "canaries/")
SETTLE = timedelta(seconds=60)      # an interval ends this long ago: every PUT in it is listed by then
ALGORITHM = "ECDSA_SHA_256"


@dataclass(frozen=True)
class Listed:
    key: str
    last_modified: datetime


def stream_of(key: str) -> tuple[str, int] | None:
    """``executions/.../<name>/000003.json`` → (stream, 3); None for anything else."""
    stream, _, leaf = key.rpartition("/")
    if not stream or not leaf.endswith(".json") or not leaf[:-5].isdigit():
        return None
    return stream, int(leaf[:-5])


def key_for(end: str) -> str:
    """Digests sort by the end of their interval: ``digests/YYYY/MM/DD/<end>.json``."""
    return f"{PREFIX}{end[:10].replace('-', '/')}/{end.replace(':', '').replace('.', '')}.json"


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def signed_hash(digest: dict[str, Any]) -> bytes:
    return hashlib.sha256(canonical.dumps({k: v for k, v in digest.items() if k != "signature"}).encode()).digest()


def chain_hash(digest: dict[str, Any]) -> str:
    """What the next digest names as ``previous.hash``: SHA-256 of the whole signed digest."""
    return canonical.sha256(digest)


def changed_streams(listed: Iterable[Listed], start: str, end: str) -> dict[str, str]:
    """Each stream with an object modified in ``(start, end]`` → its newest key (keys are zero-padded)."""
    latest: dict[str, str] = {}
    for item in listed:
        found = stream_of(item.key)
        if found and start < iso(item.last_modified) <= end:
            latest[found[0]] = max(latest.get(found[0], ""), item.key)
    return latest


def build(previous: dict[str, Any] | None, heads: dict[str, dict[str, Any]], start: str, end: str,
          key_id: str) -> dict[str, Any]:
    """The unsigned digest of ``(start, end]``; ``heads``: each changed stream's last record."""
    return {
        "schema": DIGEST_SCHEMA,
        "interval": {"start": start, "end": end},
        "previous": {"key": previous["key"], "hash": chain_hash(previous["digest"])} if previous else None,
        "streams": [{"stream": s, "seq": heads[s]["seq"], "hash": heads[s]["hash"]} for s in sorted(heads)],
        "signing": {"key_id": key_id, "algorithm": ALGORITHM, "message": "SHA-256 of the canonical digest, RAW"},
    }


def write(store: Any, kms: Any, key_id: str, now: datetime | None = None) -> dict[str, Any]:
    """Write the next digest (store: ``aws.S3AuditStore``; kms: a boto3 KMS client). Safe to
    repeat: a digest for the same interval end is never written twice."""
    import json

    end = iso((now or datetime.now(timezone.utc)) - SETTLE)
    earlier = sorted(store.list_keys(PREFIX))
    previous = None
    if earlier:
        previous = {"key": earlier[-1], "digest": json.loads(store.get(earlier[-1]))}
        if previous["digest"]["interval"]["end"] >= end:
            return {"key": earlier[-1], "written": False, "streams": len(previous["digest"]["streams"])}
    start = previous["digest"]["interval"]["end"] if previous else "1970-01-01T00:00:00.000Z"
    listed = [item for prefix in TRAIL_PREFIXES for item in store.list_objects(prefix)]
    heads = {stream: json.loads(store.get(newest)) for stream, newest in changed_streams(listed, start, end).items()}
    digest = build(previous, heads, start, end, key_id)
    signature = kms.sign(KeyId=key_id, Message=signed_hash(digest), MessageType="RAW",
                         SigningAlgorithm=ALGORITHM)["Signature"]
    digest["signature"] = base64.b64encode(signature).decode()
    key = key_for(end)
    store.put_new(key, canonical.dumps(digest).encode())
    return {"key": key, "written": True, "streams": len(digest["streams"])}
