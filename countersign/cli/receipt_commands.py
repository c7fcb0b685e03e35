"""``countersign receipt``: check a decision receipt offline, export the key that signs them.

``verify`` exit codes (``VERIFY_EXIT_TABLE``, also in ``countersign receipt verify --help``): one
line on stderr names what failed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from countersign.cli import client
from countersign.evidence import receipts, trail

EXIT_VALID, EXIT_CANNOT, EXIT_EXPIRED, EXIT_OTHER_CONTENT, EXIT_NOT_AUTHENTIC = 0, 1, 3, 4, 5
EXIT_OF = {receipts.Expired: EXIT_EXPIRED, receipts.OtherContent: EXIT_OTHER_CONTENT,
           receipts.NotAuthentic: EXIT_NOT_AUTHENTIC}
VERIFY_EXIT_TABLE = """exit codes:
  0   valid: signed by the key, for exactly this action, not expired
  1   could not verify: the receipt, the action or the public key could not be read
  3   expired: past its not_after
  4   for other content: the action does not hash to the receipt's final_action_sha256
  5   not authentic: malformed, not a Countersign receipt, or not signed by this key
  64  usage error"""


def add(sub, target_options) -> None:
    receipt = sub.add_parser("receipt", help="check a signed decision receipt offline; export its public key")
    actions = receipt.add_subparsers(required=True, metavar="ACTION", parser_class=type(receipt))

    verify = actions.add_parser("verify", help="check a receipt's signature, its action and its validity",
                                epilog=VERIFY_EXIT_TABLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    verify.add_argument("receipt", metavar="RECEIPT", help="file holding the receipt (as --receipt-out writes it), "
                                                           "or - for standard input")
    verify.add_argument("--action", required=True, metavar="FILE",
                        help="the final action about to be carried out (JSON: the verdict's final_action)")
    verify.add_argument("--public-key", metavar="PEM", help="the pinned public key (`countersign receipt public-key`); "
                                                            "without it, it is read from the stack (AWS access)")
    target_options(verify)
    verify.set_defaults(run=run_verify, json=False)

    key = actions.add_parser("public-key", help="export the public key that verifies receipts (PEM), for pinning")
    key.add_argument("--out", metavar="FILE", help="write it to FILE (default: standard output)")
    target_options(key)
    key.set_defaults(run=run_public_key, json=False)


def run_verify(args) -> int:
    from countersign.cli import commands as cli

    try:
        receipt = _text(args.receipt, "the receipt")
        action = _action(args.action)
        pem = _text(args.public_key, "the public key") if args.public_key else _stack_key(cli._target(args))
        claims = receipts.verify(receipt, action, pem)
    except receipts.InvalidReceipt as exc:
        cli.err.print(f"receipt not valid: {exc}", markup=False)
        return EXIT_OF[type(exc)]
    except _Unreadable as exc:
        return _cannot(cli, str(exc))
    except ValueError as exc:           # the PEM holds no ECDSA P-256 public key
        return _cannot(cli, f"cannot use the public key {args.public_key or 'of the stack'}: {exc}")
    deciders = f" by {', '.join(claims['deciders'])}" if claims["deciders"] else ""
    cli.out.print(f"valid: {claims['outcome']}{deciders}, execution {claims['execution_arn']}, "
                  f"until {claims['not_after']}", markup=False)
    return EXIT_VALID


def run_public_key(args) -> int:
    from countersign.cli import commands as cli

    try:
        pem = _stack_key(cli._target(args))
    except _Unreadable as exc:
        raise client.ClientError(str(exc)) from None
    if not args.out:
        sys.stdout.write(pem)
        return 0
    try:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)     # e.g. .countersign/ in a fresh checkout
        Path(args.out).write_text(pem, encoding="ascii")
    except OSError as exc:
        raise client.ClientError(f"cannot write {args.out}: {exc.strerror}") from None
    cli.err.print(f"wrote the receipt public key to {args.out}", markup=False)
    return 0


def save(args, verdict: dict[str, Any]) -> None:
    """``--receipt-out FILE``: the verdict's receipt, or no FILE at all when it carries none, so
    a receipt left from an earlier run is never taken for this verdict's."""
    from countersign.cli import commands as cli

    path = getattr(args, "receipt_out", None)
    if not path:
        return
    try:
        if verdict.get("receipt"):
            Path(path).write_text(verdict["receipt"] + "\n", encoding="ascii")
            cli.err.print(f"receipt written to {path}", markup=False)
        else:
            Path(path).unlink(missing_ok=True)
    except OSError as exc:
        raise client.ClientError(f"cannot write the receipt to {path}: {exc.strerror}") from None


class _Unreadable(Exception):
    """The receipt, the action or the public key could not be read: nothing was checked."""


def _stack_key(target: client.Target) -> str:
    try:
        return trail.pem(trail.public_key(target, "receipt"))
    except client.ClientError:
        raise
    except Exception as exc:        # access denied, a missing key: nothing was checked
        raise _Unreadable(f"cannot read the public key from stack {target.stack}: {str(exc).splitlines()[0]}") \
            from None


def _text(path: str, what: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _Unreadable(f"cannot read {what} {path}: {getattr(exc, 'strerror', None) or 'not UTF-8 text'}") from None


def _action(path: str) -> Any:
    try:
        return json.loads(_text(path, "the action"))
    except (json.JSONDecodeError, RecursionError):
        raise _Unreadable(f"cannot read the action {path}: not JSON") from None


def _cannot(cli, reason: str) -> int:
    cli.err.print(f"error: could not verify: {reason}", markup=False)
    return EXIT_CANNOT
