"""Decision receipts, offline: what a valid one proves, and each way one is refused (any altered
claim or header field, other content, expiry, another key, malformed input), with the signature
KMS makes (DER, over a SHA-256 digest) turned into the JWS an independent JOSE library accepts."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils

from countersign import receipts
from countersign.evidence import digests
from countersign.evidence.receipts import Issuer, jose_signature
from countersign.rules import canonical

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
ACTION = {"type": "deploy.production", "summary": "Deploy shop 2.4.1", "parameters": {"service": "shop",
                                                                                      "version": "2.4.1"}}
ARN = "arn:aws:states:eu-west-1:111122223333:execution:countersign-prod-approval-gate:deploy-acme-shop-9f2c"
KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/7c6e1d2a-0000-4000-8000-000000000001"


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def pem_of(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def kms_like(key):
    """What KMS Sign (MessageType DIGEST, ECDSA_SHA_256) does: sign the given SHA-256, return DER."""
    return lambda digest: key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


KEY = new_key()
PEM = pem_of(KEY)


def issue(outcome: str = "approved", key=KEY, valid_hours: int = 24, **changes) -> str:
    fields = {"review_id": "rv-0123456789abcdef0123", "execution_arn": ARN, "proposal_sha256": "ab" * 32,
              "final_action": ACTION, "outcome": outcome, "deciders": ["alice", "bob"],
              "policy_version": "93c2107a21b8", "now": NOW, **changes}
    return Issuer(KEY_ARN, kms_like(key), valid_hours).issue(**fields)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parts(receipt: str) -> tuple[dict, dict, str]:
    header, claims, signature = receipt.split(".")
    unpad = lambda p: base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))  # noqa: E731
    return json.loads(unpad(header)), json.loads(unpad(claims)), signature


def signed(header: dict, claims: dict, key=KEY) -> str:
    """A JWS with any header and claims, properly signed with ``key``."""
    signing_input = f"{b64(canonical.dumps(header).encode())}.{b64(canonical.dumps(claims).encode())}"
    der = key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    return f"{signing_input}.{b64(jose_signature(der))}"


def test_a_valid_receipt_names_the_approval_and_passes():
    claims = receipts.verify(issue(), ACTION, PEM, now=NOW + timedelta(hours=1))
    assert claims == {"schema": "countersign.receipt/1", "review_id": "rv-0123456789abcdef0123", "execution_arn": ARN,
                      "proposal_sha256": "ab" * 32, "final_action_sha256": canonical.sha256(ACTION),
                      "outcome": "approved", "deciders": ["alice", "bob"], "policy_version": "93c2107a21b8",
                      "decided_at": "2026-11-24T10:00:00.000Z", "not_after": "2026-11-25T10:00:00.000Z"}
    header, _, _ = parts(issue())
    assert header == {"alg": "ES256", "typ": "countersign-receipt+jws", "kid": KEY_ARN}


def test_an_auto_approval_has_no_review_and_no_deciders():
    claims = receipts.verify(issue("auto_approved", review_id=None, deciders=[]), ACTION, PEM, now=NOW)
    assert (claims["outcome"], claims["review_id"], claims["deciders"]) == ("auto_approved", None, [])


def test_an_independent_jose_library_verifies_it_as_es256():
    from joserfc import jws
    from joserfc.jwk import ECKey

    token = jws.deserialize_compact(issue(), ECKey.import_key(PEM), algorithms=["ES256"])
    assert token.headers()["typ"] == "countersign-receipt+jws"
    assert json.loads(token.payload)["final_action_sha256"] == canonical.sha256(ACTION)


def _altered(value):
    if value is None:
        return "rv-ffffffffffffffffffff"
    if isinstance(value, list):
        return [*value, "mallory"]
    return value[:-1] + ("0" if value[-1] != "0" else "1")


@pytest.mark.parametrize("claim", receipts.CLAIMS)
def test_any_altered_claim_fails(claim):
    header, claims, signature = issue().split(".")
    _, body, _ = parts(issue())
    forged = f"{header}.{b64(canonical.dumps({**body, claim: _altered(body[claim])}).encode())}.{signature}"
    with pytest.raises(receipts.NotAuthentic, match="^the signature does not verify with this public key$"):
        receipts.verify(forged, ACTION, PEM, now=NOW)


@pytest.mark.parametrize("field, value, reason", [
    ("kid", KEY_ARN.replace("0001", "0002"), "the signature does not verify with this public key"),
    ("alg", "none", "not a Countersign receipt: its header must be {alg: ES256, typ: countersign-receipt+jws, kid}"),
    ("alg", "HS256", "not a Countersign receipt: its header must be {alg: ES256, typ: countersign-receipt+jws, kid}"),
    ("typ", "JWT", "not a Countersign receipt: its header must be {alg: ES256, typ: countersign-receipt+jws, kid}"),
    ("crit", ["exp"], "not a Countersign receipt: its header must be {alg: ES256, typ: countersign-receipt+jws, kid}"),
])
def test_any_altered_header_field_fails(field, value, reason):
    head, _, _ = parts(issue())
    _, claims, signature = issue().split(".")
    forged = f"{b64(canonical.dumps({**head, field: value}).encode())}.{claims}.{signature}"
    with pytest.raises(receipts.NotAuthentic) as refused:
        receipts.verify(forged, ACTION, PEM, now=NOW)
    assert str(refused.value) == reason


def test_a_signed_jws_of_another_type_or_shape_is_not_a_receipt():
    _, claims, _ = parts(issue())
    with pytest.raises(receipts.NotAuthentic, match="^not a Countersign receipt"):
        receipts.verify(signed({"alg": "ES256", "typ": "JWT"}, claims), ACTION, PEM, now=NOW)
    header = {"alg": "ES256", "typ": "countersign-receipt+jws", "kid": KEY_ARN}
    with pytest.raises(receipts.NotAuthentic, match=r"^signed, but not countersign.receipt/1 claims \(the claims must"):
        receipts.verify(signed(header, {**claims, "scope": "everything"}), ACTION, PEM, now=NOW)
    with pytest.raises(receipts.NotAuthentic, match=r"lets nothing proceed"):
        receipts.verify(signed(header, {**claims, "outcome": "rejected"}), ACTION, PEM, now=NOW)


def test_a_digest_signature_is_never_a_receipt_signature_and_the_other_way_round():
    """The digests' KMS call (RAW, the digest's 32-byte SHA-256) and the receipts' (DIGEST of the
    SHA-256 of the signing input) sign different inputs with the same key."""
    digest = digests.build(None, {}, "2026-11-24T09:00:00.000Z", "2026-11-24T10:00:00.000Z", KEY_ARN)
    digest_signature = KEY.sign(digests.signed_hash(digest), ec.ECDSA(hashes.SHA256()))     # what KMS RAW makes
    header, claims, _ = issue().split(".")
    with pytest.raises(receipts.NotAuthentic, match="^the signature does not verify"):
        receipts.verify(f"{header}.{claims}.{b64(jose_signature(digest_signature))}", ACTION, PEM, now=NOW)
    receipt_signature = base64.urlsafe_b64decode(issue().split(".")[2] + "==")
    r, s = int.from_bytes(receipt_signature[:32], "big"), int.from_bytes(receipt_signature[32:], "big")
    with pytest.raises(InvalidSignature):
        KEY.public_key().verify(utils.encode_dss_signature(r, s), digests.signed_hash(digest), ec.ECDSA(hashes.SHA256()))


def test_a_receipt_for_other_content_fails():
    other = {**ACTION, "parameters": {"service": "shop", "version": "2.4.2"}}
    with pytest.raises(receipts.OtherContent) as refused:
        receipts.verify(issue(), other, PEM, now=NOW)
    assert str(refused.value) == (f"the action does not match it: the action's SHA-256 is {canonical.sha256(other)}, "
                                  f"the receipt approves {canonical.sha256(ACTION)}")


def test_a_receipt_is_valid_until_not_after_and_expired_after_it():
    receipt = issue(valid_hours=2)
    assert receipts.verify(receipt, ACTION, PEM, now=NOW + timedelta(hours=2))["not_after"] == "2026-11-24T12:00:00.000Z"
    with pytest.raises(receipts.Expired) as refused:
        receipts.verify(receipt, ACTION, PEM, now=NOW + timedelta(hours=2, milliseconds=1))
    assert str(refused.value) == "it expired at 2026-11-24T12:00:00.000Z (now 2026-11-24T12:00:00.001Z)"


def test_a_receipt_signed_with_another_key_fails():
    with pytest.raises(receipts.NotAuthentic, match="^the signature does not verify with this public key$"):
        receipts.verify(issue(key=new_key()), ACTION, PEM, now=NOW)


@pytest.mark.parametrize("receipt", [
    "", "eyJ", "a.b", "a.b.c.d", "e30.e30.", "not base64!.e30.e30", "e30.e30.e30=", "ñ.e30.e30",
    "bm90IGpzb24.e30.AAAA", b"\xff.e30.e30",
])
def test_a_malformed_receipt_fails(receipt):
    with pytest.raises(receipts.NotAuthentic, match=r"^not a compact JWS \(three base64url parts separated by dots\)$"):
        receipts.verify(receipt, ACTION, PEM, now=NOW)


def test_a_signature_of_the_wrong_length_fails():
    header, claims, signature = issue().split(".")
    for cut in (signature[:-4], signature + "AAAA"):
        with pytest.raises(receipts.NotAuthentic, match="^the signature does not verify"):
            receipts.verify(f"{header}.{claims}.{cut}", ACTION, PEM, now=NOW)


@pytest.mark.parametrize("key", [
    "not a key",
    rsa.generate_private_key(public_exponent=65537, key_size=2048),
    ec.generate_private_key(ec.SECP384R1()),
], ids=["text", "rsa", "p384"])
def test_a_key_that_is_not_p256_is_refused_before_anything_is_trusted(key):
    pem = key if isinstance(key, str) else pem_of(key)
    with pytest.raises(ValueError, match="^not a(n ECDSA P-256| PEM) public key$"):
        receipts.verify(issue(), ACTION, pem, now=NOW)


def test_no_receipt_is_issued_for_a_verdict_that_lets_nothing_proceed():
    for outcome in ("rejected", "vetoed", "reversed", "expired", "halted", "failed"):
        with pytest.raises(ValueError, match="no receipt"):
            issue(outcome)


def test_kms_der_signatures_become_64_byte_jose_signatures():
    high, low = 2 ** 255 + 5, 7        # r needs a leading zero byte in DER; s is short
    assert jose_signature(utils.encode_dss_signature(high, low)) == high.to_bytes(32, "big") + low.to_bytes(32, "big")
    der = utils.encode_dss_signature(high, low)
    for broken in (der[:-1], der + b"\x00", b"\x31" + der[1:], der[:2] + b"\x03" + der[3:]):
        with pytest.raises(ValueError):
            jose_signature(broken)
