"""``countersign report vigilance``: the table, who needs attention and why, and --json, read from
an export of a trail."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from countersign.cli import commands as cli
from countersign.evidence import trail
from countersign.evidence.verify import Stored
from tests.fixtures.synthetic_trail import vigilance_trail

TODAY = datetime(2026, 11, 20, tzinfo=timezone.utc)


def export(tmp_path, extra: list[tuple[str, bytes]] = ()) -> str:
    objects = [Stored(key, body, "GOVERNANCE", None) for key, body in [*vigilance_trail(TODAY), *extra]]
    path = tmp_path / "trail.jsonl"
    path.write_text("\n".join(trail.export_lines(objects, b"\x30", {"mode": "GOVERNANCE", "days": 1}, "bucket")))
    return str(path)


def test_the_table_names_who_needs_attention_and_why(tmp_path, capsys):
    assert cli.main(["report", "vigilance", "--from", export(tmp_path), "--since", "2026-11-01"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split("  ")[0] == "reviewer" and "canaries caught/missed" in out[0]
    dora = next(line for line in out if line.startswith("dora "))
    assert dora.split() == ["dora", "refund.issue", "60", "100%", "0%", "0%", "3.0", "s", "100%", "-",
                            "rubber_stamp,", "fast"]
    frank = next(line for line in out if line.startswith("frank "))
    assert "1/0" in frank and frank.endswith("-")                 # caught his canary, no flag
    assert not any(line.startswith("gus") for line in out)        # 2020 is before --since
    assert out[out.index("needs attention:") + 1:] == [
        "  dora on refund.issue: approved 100% of 60 decisions as proposed; median dwell 3.0 s (under 5 s)",
        "  erin on refund.issue: approved 1 canary proposal(s) as proposed"]


def test_json_is_one_document_with_every_line_and_the_attention_list(tmp_path, capsys):
    assert cli.main(["report", "vigilance", "--from", export(tmp_path), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [(x["reviewer"], x["decisions"]) for x in document["lines"]] == [
        ("dora", 60), ("erin", 20), ("frank", 10), ("gus", 1)]
    assert document["attention"] == [
        {"reviewer": "dora", "action_type": "refund.issue", "flags": ["rubber_stamp", "fast"]},
        {"reviewer": "erin", "action_type": "refund.issue", "flags": ["missed_canary"]},
        {"reviewer": "gus", "action_type": "refund.issue", "flags": ["fast"]}]


def test_ai_written_action_types_are_printed_as_text(tmp_path, capsys):
    from tests.fixtures.synthetic_trail import _decision

    key, body = _decision(TODAY, 900, "hal", "approved", 9.0)
    record = json.loads(body)
    record["action_type"] = "[bold red]x[/bold red]\u001b[2J"
    hostile = (key.replace("00900", "00901"), json.dumps(record).encode())
    assert cli.main(["report", "vigilance", "--from", export(tmp_path, [hostile])]) == 0
    out = capsys.readouterr().out
    assert "[bold red]x[/bold red][U+001B][2J" in out and "\u001b" not in out


def test_an_unreadable_export_is_one_line_and_exit_1(tmp_path, capsys):
    (tmp_path / "bad.jsonl").write_text("not json\n")
    assert cli.main(["report", "vigilance", "--from", str(tmp_path / "bad.jsonl")]) == 1
    assert capsys.readouterr().err.startswith("error: cannot read the export")
