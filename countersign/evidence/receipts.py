"""Signed decision receipts: proof, checkable offline, that this exact action was approved.

Every verdict that lets an action proceed (``approved``, ``modified``, ``auto_approved``) carries a
receipt: a compact JWS (RFC 7515, ``ES256``) over claims naming the review (null when none was
opened), the execution, the SHA-256 of the canonical proposal and of the final action
(``canonical.sha256``), the outcome, the deciders (named as the audit trail names them), the policy
version, when the verdict was reached (``decided_at``) and until when it may be acted on
(``not_after``). An executor, or a deploy job elsewhere, checks it with the public key alone:
``verify`` here, ``countersign receipt verify``, or any JOSE library (which checks the signature
only: compare ``final_action_sha256`` and ``not_after`` yourself).

Two keys set up alike. Receipts are signed with a KMS key of their own (ECC_NIST_P256,
ECDSA_SHA_256), which only Conclude may sign with; the audit digests have theirs, which only the
digest function may. KMS signs bytes, not meanings: with one shared key either signer could have
made the other's kind. The two kinds are also kept apart by what each signature's hash covers:

- a digest: KMS ``Sign`` of a RAW message, the 32-byte SHA-256 of the digest's canonical JSON, so
  the ECDSA hash covers exactly 32 bytes;
- a receipt: KMS ``Sign`` of a DIGEST, SHA-256 of the JWS signing input
  ``BASE64URL(header) "." BASE64URL(claims)``, as ES256 defines it, so the ECDSA hash covers the
  signing input, which is always longer than 32 bytes (the header alone encodes to more) and
  holds a ``.``.

Each verifier also checks what it parses: a receipt needs ``typ`` ``countersign-receipt+jws``,
``alg`` ``ES256`` and ``countersign.receipt/1`` claims, and a digest is a ``countersign.digest/1``
JSON object, which no signing input is.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from countersign.evidence.digests import iso
from countersign.rules import canonical

SCHEMA = "countersign.receipt/1"
TYPE = "countersign-receipt+jws"
ALGORITHM = "ES256"
PROCEEDS = ("approved", "modified", "auto_approved")    # the outcomes that let an action proceed
DEFAULT_VALID_HOURS = 24
CLAIMS = ("schema", "review_id", "execution_arn", "proposal_sha256", "final_action_sha256", "outcome", "deciders",
          "policy_version", "decided_at", "not_after")
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class InvalidReceipt(Exception):
    """The receipt does not let this action proceed; the message says why, in one line."""


class NotAuthentic(InvalidReceipt):
    """Malformed, not a Countersign receipt, or not signed by the given key."""


class OtherContent(InvalidReceipt):
    """Authentic, but for another action."""


class Expired(InvalidReceipt):
    """Authentic and for this action, but past its ``not_after``."""


@dataclass(frozen=True)
class Issuer:
    """Signs receipts with a KMS key: ``sign_digest`` takes SHA-256(signing input) and returns
    KMS's DER signature (``adapters.aws.kms_digest_signer``)."""
    key_id: str
    sign_digest: Callable[[bytes], bytes]
    valid_hours: int = DEFAULT_VALID_HOURS

    def issue(self, *, review_id: str | None, execution_arn: str, proposal_sha256: str, final_action: Any,
              outcome: str, deciders: list[str], policy_version: str, now: datetime) -> str:
        if outcome not in PROCEEDS:
            raise ValueError(f"no receipt for a verdict that lets nothing proceed ({outcome})")
        decided = now.astimezone(timezone.utc)
        claims = {"schema": SCHEMA, "review_id": review_id, "execution_arn": execution_arn,
                  "proposal_sha256": proposal_sha256, "final_action_sha256": canonical.sha256(final_action),
                  "outcome": outcome, "deciders": list(deciders), "policy_version": policy_version,
                  "decided_at": iso(decided), "not_after": iso(decided + timedelta(hours=self.valid_hours))}
        header = {"alg": ALGORITHM, "typ": TYPE, "kid": self.key_id}
        signing_input = f"{_encode(canonical.dumps(header).encode())}.{_encode(canonical.dumps(claims).encode())}"
        der = self.sign_digest(hashlib.sha256(signing_input.encode("ascii")).digest())
        return f"{signing_input}.{_encode(jose_signature(der))}"


def jose_signature(der: bytes) -> bytes:
    """KMS's DER ``ECDSA-Sig-Value`` (a SEQUENCE of the INTEGERs r and s) as JOSE's 64 bytes r || s."""
    def integer(at: int) -> tuple[bytes, int]:
        if der[at:at + 1] != b"\x02" or at + 2 > len(der) or at + 2 + der[at + 1] > len(der):
            raise ValueError("not a DER ECDSA signature")
        end = at + 2 + der[at + 1]
        value = der[at + 2:end].lstrip(b"\x00")
        if len(value) > 32:
            raise ValueError("not a P-256 ECDSA signature")
        return value.rjust(32, b"\x00"), end

    if len(der) < 8 or der[0] != 0x30 or der[1] != len(der) - 2:
        raise ValueError("not a DER ECDSA signature")
    r, at = integer(2)
    s, at = integer(at)
    if at != len(der):
        raise ValueError("not a DER ECDSA signature")
    return r + s


def verify(receipt: str | bytes, action: Any, public_key_pem: str | bytes, now: datetime | None = None) -> dict[str, Any]:
    """The receipt's claims when it is signed by this key, for exactly ``action`` (the final action
    about to be carried out) and not past ``not_after``; else ``NotAuthentic``, ``OtherContent`` or
    ``Expired``. ``ValueError`` when the key is not an ECDSA P-256 public key."""
    key = public_key(public_key_pem)
    claims = _authentic(receipt, key)
    digest = canonical.sha256(action)
    if digest != claims["final_action_sha256"]:
        raise OtherContent(f"the action does not match it: the action's SHA-256 is {digest}, the receipt approves "
                           f"{claims['final_action_sha256']}")
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    if moment > _time(claims["not_after"]):
        raise Expired(f"it expired at {claims['not_after']} (now {iso(moment)})")
    return claims


def public_key(pem: str | bytes) -> Any:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError("not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("not an ECDSA P-256 public key")
    return key


def _authentic(receipt: str | bytes, key: Any) -> dict[str, Any]:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    try:
        text = receipt.decode("ascii") if isinstance(receipt, bytes) else receipt
        parts = text.strip().split(".")
        if len(parts) != 3 or not all(_B64URL.fullmatch(p) and len(p) % 4 != 1 for p in parts):
            raise ValueError
        header, signature = _json(parts[0]), _decode(parts[2])
    except (ValueError, RecursionError):
        raise NotAuthentic("not a compact JWS (three base64url parts separated by dots)") from None
    if not isinstance(header, dict) or header.get("typ") != TYPE or header.get("alg") != ALGORITHM \
            or set(header) - {"alg", "typ", "kid"}:
        raise NotAuthentic(f"not a Countersign receipt: its header must be {{alg: {ALGORITHM}, typ: {TYPE}, kid}}")
    try:
        if len(signature) != 64:
            raise InvalidSignature
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        key.verify(der, f"{parts[0]}.{parts[1]}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise NotAuthentic("the signature does not verify with this public key") from None
    try:
        return _checked(_json(parts[1]))
    except (ValueError, RecursionError) as exc:
        raise NotAuthentic(f"signed, but not {SCHEMA} claims ({exc})") from None


def _checked(claims: Any) -> dict[str, Any]:
    if not isinstance(claims, dict) or sorted(claims) != sorted(CLAIMS) or claims["schema"] != SCHEMA:
        raise ValueError(f"the claims must be exactly {', '.join(CLAIMS)}")
    for name in ("proposal_sha256", "final_action_sha256"):
        if not isinstance(claims[name], str) or not _SHA256.fullmatch(claims[name]):
            raise ValueError(f"{name} is not a SHA-256 in hex")
    if claims["outcome"] not in PROCEEDS:
        raise ValueError(f"outcome {claims['outcome']!r} lets nothing proceed")
    if not isinstance(claims["deciders"], list) or not all(isinstance(d, str) for d in claims["deciders"]):
        raise ValueError("deciders is not a list of reviewer ids")
    if not all(isinstance(claims[n], str) for n in ("execution_arn", "policy_version", "decided_at", "not_after")) \
            or not isinstance(claims["review_id"], (str, type(None))):
        raise ValueError("execution_arn, policy_version, decided_at, not_after and review_id must be text")
    if _time(claims["not_after"]) <= _time(claims["decided_at"]):
        raise ValueError("not_after is not after decided_at")
    return claims


def _time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} names no time zone")
    return moment


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _json(part: str) -> Any:
    return json.loads(_decode(part).decode("utf-8"))
