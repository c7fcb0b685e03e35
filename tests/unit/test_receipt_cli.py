"""`countersign receipt verify`, offline: each outcome's exit code and its one line, byte for byte."""
from __future__ import annotations

import io
import json
from datetime import datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from countersign.cli import commands as cli
from countersign.cli.receipt_commands import VERIFY_EXIT_TABLE
from countersign.evidence import receipts as domain
from countersign.rules import canonical
from tests.unit.test_receipts import ACTION, ARN, NOW, PEM, issue, new_key, pem_of

CHECKED_AT = NOW + timedelta(hours=1)


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """The command checks not_after against the wall clock: fix it, so every line is exact."""
    class Fixed(datetime):
        @classmethod
        def now(cls, tz=None):
            return CHECKED_AT.astimezone(tz)

    monkeypatch.setattr(domain, "datetime", Fixed)


@pytest.fixture
def paths(tmp_path):
    (tmp_path / "action.json").write_text(json.dumps(ACTION))
    (tmp_path / "receipts.pem").write_text(PEM)
    (tmp_path / "receipt.jws").write_text(issue() + "\n")
    return tmp_path


def verify(capsys, paths, receipt: str = "receipt.jws", action: str = "action.json", key: str = "receipts.pem"):
    code = cli.main(["receipt", "verify", str(paths / receipt), "--action", str(paths / action),
                     "--public-key", str(paths / key)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_valid_receipt_exits_0_and_names_the_approval(capsys, paths):
    assert verify(capsys, paths) == (0, f"valid: approved by alice, bob, execution {ARN}, "
                                        "until 2026-11-25T10:00:00.000Z\n", "")


@pytest.mark.parametrize("receipt, action, code, line", [
    (issue(now=CHECKED_AT - timedelta(hours=24, seconds=1)), ACTION, 3,
     "receipt not valid: it expired at 2026-11-24T10:59:59.000Z (now 2026-11-24T11:00:00.000Z)\n"),
    (issue(), {**ACTION, "summary": "Deploy shop 2.5.0"}, 4,
     "receipt not valid: the action does not match it: the action's SHA-256 is "
     f"{canonical.sha256({**ACTION, 'summary': 'Deploy shop 2.5.0'})}, the receipt approves {canonical.sha256(ACTION)}\n"),
    (issue(key=new_key()), ACTION, 5, "receipt not valid: the signature does not verify with this public key\n"),
    ("eyJhbGciOiJub25lIn0.e30.", ACTION, 5,
     "receipt not valid: not a compact JWS (three base64url parts separated by dots)\n"),
])
def test_each_refusal_exits_with_its_code_and_one_line_on_stderr(capsys, paths, receipt, action, code, line):
    (paths / "receipt.jws").write_text(receipt)
    (paths / "action.json").write_text(json.dumps(action))
    assert verify(capsys, paths) == (code, "", line)


def test_what_cannot_be_read_exits_1_and_checks_nothing(capsys, paths):
    (paths / "action.txt").write_text("service=shop")
    (paths / "garbled.pem").write_text("-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n")
    (paths / "p384.pem").write_text(pem_of(ec.generate_private_key(ec.SECP384R1())))
    assert verify(capsys, paths, receipt="missing.jws") == (
        1, "", f"error: could not verify: cannot read the receipt {paths / 'missing.jws'}: No such file or directory\n")
    assert verify(capsys, paths, action="action.txt") == (
        1, "", f"error: could not verify: cannot read the action {paths / 'action.txt'}: not JSON\n")
    assert verify(capsys, paths, key="garbled.pem") == (
        1, "", f"error: could not verify: cannot use the public key {paths / 'garbled.pem'}: not a PEM public key\n")
    assert verify(capsys, paths, key="p384.pem") == (
        1, "", f"error: could not verify: cannot use the public key {paths / 'p384.pem'}: not an ECDSA P-256 public key\n")


def test_the_receipt_may_come_on_standard_input(capsys, paths, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(issue()))
    code = cli.main(["receipt", "verify", "-", "--action", str(paths / "action.json"),
                     "--public-key", str(paths / "receipts.pem")])
    assert code == 0 and capsys.readouterr().out.startswith("valid: approved by alice, bob")


@pytest.mark.parametrize("argv, message", [
    (["receipt", "verify", "r.jws"], "the following arguments are required: --action"),
    (["submit", "p.json", "--receipt-out", "r.jws"], "--receipt-out needs --wait (the receipt comes with the verdict)"),
])
def test_usage_errors_exit_64(capsys, argv, message):
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 64
    assert capsys.readouterr().err.endswith(f"error: {message}\n")


def test_the_exit_codes_are_in_the_help_and_no_two_meanings_share_a_code(capsys):
    with pytest.raises(SystemExit):
        cli.main(["receipt", "verify", "--help"])
    assert VERIFY_EXIT_TABLE in capsys.readouterr().out
    codes = [int(line.split()[0]) for line in VERIFY_EXIT_TABLE.splitlines()[1:]]
    assert len(codes) == len(set(codes)) == 6
