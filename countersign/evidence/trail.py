"""Reading the audit trail back from a deployed stack (or an export) for ``countersign audit``.

Online, it lists and reads every object under the trail's prefixes and the digests, with each
object's Object Lock mode and retain-until date (``HeadObject``), the bucket's lock settings and
the digest key's public key. An export is the same material in one JSON Lines file, so
``audit verify --from FILE`` checks it with no AWS access at all.
"""
from __future__ import annotations

import base64
import json
from datetime import date, datetime, timedelta
from typing import Any, Callable, Iterator

from countersign.evidence import digests
from countersign.evidence.verify import Stored

EXPORT_SCHEMA = "countersign.audit-export/1"


def _keys(s3: Any, bucket: str, since: str | None, until: str | None, execution: str | None) -> list[str]:
    keys: list[str] = []
    for prefix in (*digests.TRAIL_PREFIXES, digests.PREFIX):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
    return [k for k in keys if k.startswith(digests.PREFIX) or _wanted(k, since, until, execution)]


def _wanted(key: str, since: str | None, until: str | None, execution: str | None) -> bool:
    """``since``/``until`` (YYYY-MM-DD) select by the date folder of a stream; ``execution`` by name."""
    parts = key.split("/")
    day = "-".join(parts[1:4]) if len(parts) > 4 else ""
    if (since and day < since) or (until and day > until):
        return False
    return not execution or (key.startswith("executions/") and parts[-2] == execution)


def selects(since: str | None, until: str | None, execution: str | None = None) -> Callable[[str], bool]:
    """Whether a stream is in what ``read`` reads for these options."""
    return lambda stream: _wanted(stream + "/000001.json", since, until, execution)


def read(target: Any, since: str | None = None, until: str | None = None, execution: str | None = None,
         progress: Callable[[int, int], None] = lambda done, total: None) -> list[Stored]:
    s3, bucket = target.client("s3"), target.outputs["AuditBucketName"]
    keys = _keys(s3, bucket, since, until, execution)
    found = []
    for done, key in enumerate(keys, 1):
        got = s3.get_object(Bucket=bucket, Key=key)
        found.append(Stored(key, got["Body"].read(), got.get("ObjectLockMode"), got.get("ObjectLockRetainUntilDate")))
        if done % 100 == 0 or done == len(keys):
            progress(done, len(keys))
    return found


DECISION_PREFIXES = ("executions/", "canaries/")     # where decision_recorded records are written


def recent(store: Any, days: int, today: date) -> list[Stored]:
    """The objects of the executions (and canary reviews) started in the last ``days`` days (by
    their date folder), read through an audit store (``list_keys``, ``get``): what a scheduled
    function reads."""
    keys = [key for back in range(days) for prefix in DECISION_PREFIXES
            for key in store.list_keys(f"{prefix}{today - timedelta(days=back):%Y/%m/%d}/")]
    return [Stored(key, store.get(key), None, None) for key in keys]


def lock_settings(target: Any) -> dict[str, Any]:
    got = target.client("s3").get_object_lock_configuration(Bucket=target.outputs["AuditBucketName"])
    default = got["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    return {"mode": default["Mode"], "days": int(default.get("Days") or 365 * int(default.get("Years", 0)))}


def public_key(target: Any, key: str = "digest") -> bytes:
    """The public key (DER, SubjectPublicKeyInfo) of the stack's ``digest`` or ``receipt`` signing key."""
    arn = target.outputs.get(f"{key.capitalize()}KeyArn")
    if not arn:
        from countersign.cli.client import ClientError
        raise ClientError(f"stack {target.stack} has no {key} key; deploy the current version")
    return target.client("kms").get_public_key(KeyId=arn)["PublicKey"]


def pem(der: bytes) -> str:
    body = base64.encodebytes(der).decode().replace("\n", "")
    return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(body[i:i + 64] for i in range(0, len(body), 64)) + \
        "\n-----END PUBLIC KEY-----\n"


def der_from_pem(text: str) -> bytes:
    lines = [line for line in text.strip().splitlines() if not line.startswith("-----")]
    return base64.b64decode("".join(lines))


def export_lines(objects: list[Stored], der: bytes, lock: dict[str, Any], bucket: str,
                 period: dict[str, str | None] | None = None) -> Iterator[str]:
    """The header (bucket, lock settings, public key, and the period the export was limited to),
    then one line per object."""
    yield json.dumps({"export": EXPORT_SCHEMA, "bucket": bucket, "lock": lock, "public_key_pem": pem(der),
                      "period": period or {"since": None, "until": None}})
    for stored in objects:
        yield json.dumps({"key": stored.key, "body": stored.body.decode("utf-8", "replace"),
                          "lock_mode": stored.lock_mode,
                          "retain_until": stored.retain_until.isoformat() if stored.retain_until else None})


def load_export(lines: Iterator[str]) -> tuple[list[Stored], bytes, dict[str, Any], dict[str, Any]]:
    """(objects, public key DER, lock settings, period) from an export; ValueError when it is not one."""
    header = json.loads(next(lines))
    if header.get("export") != EXPORT_SCHEMA:
        raise ValueError(f"not a Countersign audit export (no {EXPORT_SCHEMA} header)")
    objects = []
    for line in lines:
        if line.strip():
            item = json.loads(line)
            until = datetime.fromisoformat(item["retain_until"]) if item.get("retain_until") else None
            objects.append(Stored(item["key"], item["body"].encode("utf-8"), item.get("lock_mode"), until))
    period = header.get("period") or {}
    return objects, der_from_pem(header["public_key_pem"]), header["lock"], {
        "since": period.get("since"), "until": period.get("until")}


def write_digest(target: Any) -> dict[str, Any]:
    """Invoke the digest function now (the same code its schedule runs)."""
    from countersign.cli.client import invoke

    return invoke(target, "DigestFunctionName", "digest function")
