"""Check a Countersign decision receipt offline, before carrying out an action.

    from countersign import receipts

    claims = receipts.verify(event["receipt"], event["action"], PINNED_PUBLIC_KEY_PEM)

``verify`` returns the receipt's claims when the receipt is signed by the pinned key (export it
with ``countersign receipt public-key``), is for exactly this action, and is not past its
``not_after``; otherwise it raises ``NotAuthentic``, ``OtherContent`` or ``Expired`` (all
``InvalidReceipt``), and ``ValueError`` for a key that is not ECDSA P-256. It needs
``cryptography``. What a receipt holds, and why: ``countersign.evidence.receipts``.
"""
from countersign.evidence.receipts import CLAIMS, Expired, InvalidReceipt, NotAuthentic, OtherContent, verify

__all__ = ["CLAIMS", "Expired", "InvalidReceipt", "NotAuthentic", "OtherContent", "verify"]
