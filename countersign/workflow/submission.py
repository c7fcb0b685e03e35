"""How a proposal arrives, and who sent it.

Two paths start an execution. A caller with ``states:StartExecution`` passes the proposal as the
execution input. The authenticated submit path (``POST /submissions``, IAM-authorised, an API
Gateway service integration with no Lambda) wraps the request body, base64-encoded, in an envelope
with the caller's IAM principal (``$context.identity.userArn``):

    {"submission": {"proposal_base64": "...", "submitted_by": "arn:aws:sts::...", "request_id": "..."}}

The proposal schema allows no ``submission`` or ``submitted_by`` member, so a proposal cannot
write who submitted it; only the envelope can, and only the gateway (or a caller that may start
executions directly) writes envelopes.
"""
from __future__ import annotations

import base64
import binascii
import json
from fnmatch import fnmatchcase
from typing import Any

from countersign.rules.proposal import InvalidProposal

ENVELOPE = "submission"


def unwrap(raw: Any) -> tuple[Any, str | None]:
    """(the proposal, the submitter's IAM principal ARN or None for a direct StartExecution)."""
    if not (isinstance(raw, dict) and set(raw) == {ENVELOPE} and isinstance(raw[ENVELOPE], dict)):
        return raw, None
    sent = raw[ENVELOPE]
    by = sent.get("submitted_by")
    if not isinstance(by, str) or not by.startswith("arn:"):
        raise InvalidProposal([{"path": "$.submission.submitted_by", "message": "no caller identity: the submit "
                                "path must be IAM-authorised"}])
    try:
        proposal = json.loads(base64.b64decode(str(sent.get("proposal_base64", "")), validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidProposal([{"path": "$", "message": "the submitted body is not a UTF-8 JSON proposal"}]) from None
    return proposal, by


def proposal_of(raw: Any) -> dict[str, Any]:
    """The proposal an execution input carries (for content binding), whatever its path; ``{}``
    when there is none to read."""
    try:
        found = unwrap(raw)[0]
    except InvalidProposal:
        return {}
    return found if isinstance(found, dict) else {}


def submitters(submitted_by: str | None, principals: dict[str, list[str]]) -> list[str]:
    """The reviewers whose IAM principals (exact ARNs, or patterns such as
    ``arn:aws:sts::123456789012:assumed-role/alice-*/*``) match the submitter."""
    if not submitted_by:
        return []
    return sorted(rid for rid, patterns in principals.items()
                  if any(fnmatchcase(submitted_by, pattern) for pattern in patterns))
