"""The evidence pack's figures on a hand-built trail (exact numbers), the workflow analysis of the
real ASL, the checklist's honesty, and the page: escaped, bounded, self-contained."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from countersign.evidence.compliance import evidence, figures, render
from countersign.evidence.compliance.checklist import checklist
from countersign.evidence.compliance.sources import Sources
from countersign.evidence.verify import Problem, Report, Stored

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
EVIL = "<script>alert(1)</script>" + "x" * 200

EXTERNAL = r'\b(?:href|src|action|data|poster)\s*=\s*"(?!#)|url\(|@import|<(?:link|img|script|iframe|object|embed|base|form)\b'


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def execution(name: str, action_type: str, *events: dict) -> list[dict]:
    return [{"stream": f"executions/2026/11/02/gate/{name}", "seq": i, "action_type": action_type,
             "action_summary": f"summary of {name}", **e} for i, e in enumerate(events, 1)]


def decided(name: str, action_type: str, decision: str, outcome: str, after: float, route="human_review",
            rationale="because") -> list[dict]:
    review = f"rv-{name}"
    return execution(name, action_type,
                     {"event": "proposal_received", "route": "received", "recorded_at": at(0)},
                     {"event": "review_requested", "review_id": review, "route": route, "recorded_at": at(1)},
                     {"event": "decision_recorded", "review_id": review, "decision": decision, "reviewer": "alice",
                      "rationale": rationale, "decided_at": at(1 + after), "recorded_at": at(2 + after)},
                     {"event": "verdict_issued", "review_id": review, "outcome": outcome, "route": route,
                      "recorded_at": at(3 + after)})


TRAIL = [
    *decided("a", "refund.issue", "approved", "approved", 30),
    *decided("b", "refund.issue", "modified", "modified", 90, rationale="halve it"),
    *decided("c", "refund.issue", "rejected", "rejected", 600, rationale=EVIL * 2),
    *decided("d", "notice.send", "rejected", "vetoed", 5, route="veto_window"),
    *execution("e", "quick.timeout",
               {"event": "proposal_received", "recorded_at": at(0)},
               {"event": "review_requested", "review_id": "rv-e", "recorded_at": at(1)},
               {"event": "escalated", "review_id": "rv-e", "recorded_at": at(4)},
               {"event": "expired", "outcome": "expired", "route": "human_review", "recorded_at": at(5)},
               {"event": "late_decision", "review_id": "rv-e", "reviewer": "bob", "decision": "approve",
                "recorded_at": at(6)}),
    *execution("f", EVIL, {"event": "proposal_received", "recorded_at": at(0)},
               {"event": "auto_approved", "outcome": "auto_approved", "route": "auto", "recorded_at": at(1)}),
    {"event": "refused_request", "reason": "invalid proposal", "stream": "refusals/2026/11/02/r1", "seq": 1,
     "recorded_at": at(7)},
    {"event": "refused_request", "status": 403, "reason": "this link is not valid", "stream": "refusals/2026/11/02/r2",
     "seq": 1, "recorded_at": at(8)},
    {"event": "refused_request", "expected_route": "halted", "stream": "executions/2026/11/02/gate/g", "seq": 1,
     "action_type": "refund.issue", "recorded_at": at(9)},
    {"event": "kill_switch_changed", "from": "off", "to": "halt", "reason": "INC-1", "actor": "arn:aws:iam::1:user/x",
     "stream": "kill-switch/2026/11/02/1", "seq": 1, "recorded_at": at(10)},
    {"event": "kill_switch_changed", "from": "halt", "to": "off", "reason": "", "actor": "arn:aws:iam::1:user/x",
     "stream": "kill-switch/2026/11/02/2", "seq": 1, "recorded_at": at(11)},
]


def test_outcomes_by_route_and_overrides_by_action_type():
    assert figures.totals(figures.decisions(TRAIL), "outcome", "route") == [
        {"outcome": "approved", "route": "human_review", "count": 1},
        {"outcome": "auto_approved", "route": "auto", "count": 1},
        {"outcome": "expired", "route": "human_review", "count": 1},
        {"outcome": "modified", "route": "human_review", "count": 1},
        {"outcome": "rejected", "route": "human_review", "count": 1},
        {"outcome": "vetoed", "route": "veto_window", "count": 1}]
    assert figures.overrides(TRAIL) == [
        {"action_type": "notice.send", "decisions": 1, "modified": 0, "rejected": 1, "rate": 1.0},
        {"action_type": "refund.issue", "decisions": 3, "modified": 1, "rejected": 1, "rate": 2 / 3}]


def test_time_to_decision_runs_from_the_request_to_the_decision_per_review():
    times = figures.times_to_decision(TRAIL)
    assert {t["review_id"]: t["seconds"] for t in times} == {"rv-a": 30, "rv-b": 90, "rv-c": 600, "rv-d": 5}
    seconds = [t["seconds"] for t in times]
    assert (figures.percentile(seconds, 0.5), figures.percentile(seconds, 0.9)) == (30, 600)
    assert figures.percentile([], 0.5) is None and figures.percentile([7.0], 0.9) == 7.0
    assert [b["count"] for b in figures.histogram(seconds)] == [1, 1, 1, 1, 0, 0, 0, 0]
    assert [b["count"] for b in figures.histogram([0, 9.99, 10, 86400, 10 ** 7])] == [2, 1, 0, 0, 0, 0, 0, 2]


def test_expiries_late_decisions_refusals_and_kill_switch_flips():
    assert figures.expiries(TRAIL) == {"expired": 1, "escalations": 1, "by_action_type": [
        {"action_type": "quick.timeout", "expired": 1, "escalations": 1}]}
    assert [(d["action_type"], d["reviewer"], d["decision"]) for d in figures.late_decisions(TRAIL)] == \
        [("quick.timeout", "bob", "approve")]
    assert figures.refusals(TRAIL) == [{"reason": "403: this link is not valid", "count": 1},
                                       {"reason": "halted by the kill switch on intake", "count": 1},
                                       {"reason": "invalid proposal", "count": 1}]
    assert [(k["from"], k["to"], k["reason"]) for k in figures.kill_switch_flips(TRAIL)] == \
        [("off", "halt", "INC-1"), ("halt", "off", "")]


def test_untrusted_text_is_bounded_and_records_are_read_from_stored_objects():
    summary = figures.summarise(TRAIL)
    types = {o["action_type"] for o in figures.totals(summary["decisions"]["by_action_type"], "action_type")}
    assert max(len(t) for t in types) == figures.LIMITS["action_type"]
    assert summary["recent_overrides"][0]["rationale"] == (EVIL * 2)[:299] + "…"
    objects = [Stored(f"{r['stream']}/{r['seq']:06d}.json", json.dumps(r).encode()) for r in TRAIL]
    objects += [Stored("digests/2026/11/02/x.json", b"{}"), Stored("executions/2026/11/02/gate/z/000001.json", b"{")]
    assert len(figures.records_of(objects)) == len(TRAIL)


ASL = json.loads(Path("statemachines/approval_gate.asl.json").read_text())


def test_the_workflow_analysis_names_each_kind_of_oversight_in_the_real_asl():
    flow = evidence.workflow("gate", "statemachines/approval_gate.asl.json", ASL)
    states = {kind: [s["state"] for s in flow[kind]] for kind in
              ("hitl", "hotl_veto", "hotl_post_hoc", "hootl", "post_execution_review", "unclassified_gates")}
    assert states == {"hitl": ["RequestReview"], "hotl_veto": ["VetoWindow"], "hotl_post_hoc": ["ReverseWindow"],
                      "hootl": ["AutoApprove", "Conclude"], "post_execution_review": ["SignOff"],
                      "unclassified_gates": []}
    assert flow["max_gates_on_a_path"] == 2 and flow["within_budget"]
    assert "$.proposal.confidence ≥ $.policy.auto_approve_threshold" in flow["hootl"][1]["how"]


POLICY = {"version": "v1", "default": {"auto_approve_threshold": 0.9, "review_timeout_seconds": 60},
          "action_types": {"refund.issue": {"tiers": [{"reviewers": ["alice"], "timeout_seconds": 30},
                                                      {"reviewers": ["bob", "carol"], "timeout_seconds": 90}],
                                            "quorum": 2},
                           "notice.send": {"veto_threshold": 0.5, "spot_check_rate": 0.1}}}


def pack(lock=None, problems=(), policy=POLICY, kill_switch="off", people=None) -> dict:
    objects = [Stored(f"{r['stream']}/{r['seq']:06d}.json", json.dumps(r).encode()) for r in TRAIL]
    src = Sources(objects, b"", lock or {"mode": "COMPLIANCE", "days": 2557},
                  [{"name": "gate", "source": "test", "definition": ASL}], policy, kill_switch,
                  ["alice", "bob", "carol"] if policy else None, {"trail": "test"}, people=people)
    report = Report(records=len(objects), streams=9, digests=2, problems=list(problems))
    return evidence.assemble(src, report, {"since": None, "until": None}, T0, "stack test")


def test_escalation_criteria_and_authority_per_action_type():
    rows = {r["action_type"]: r for r in pack()["escalation"]}
    assert rows["refund.issue"]["tiers"] == [{"tier": 1, "reviewers": ["alice"], "timeout_seconds": 30},
                                             {"tier": 2, "reviewers": ["bob", "carol"], "timeout_seconds": 90}]
    assert rows["refund.issue"]["quorum"] == 2 and rows["refund.issue"]["veto_threshold"] is None
    assert rows["notice.send"]["tiers"] == [{"tier": 1, "reviewers": ["alice", "bob", "carol"], "timeout_seconds": 60}]
    assert (rows["notice.send"]["veto_threshold"], rows["notice.send"]["hotl"], rows["notice.send"]["spot_check_rate"]) \
        == (0.5, "veto", 0.1)


def status(facts: dict, article: str) -> str:
    return next(c["status"] for c in facts["checklist"] if c["article"] == article)


def test_the_checklist_never_claims_what_the_evidence_does_not_show():
    good = pack()
    assert status(good, "Art. 12(1)") == "evidenced" and status(good, "Art. 26(6)") == "evidenced"
    assert status(good, "Art. 14(4)(d)") == "evidenced" and status(good, "Art. 14(4)(e)") == "evidenced"
    assert {status(good, a) for a in ("Art. 26(1)", "Art. 26(4)", "Art. 26(7)", "Art. 26(11)", "Art. 12(3)")} == \
        {"not evidenced"}
    assert all(c["status"] != "evidenced" for c in good["checklist"]
               if c["article"] in ("Art. 14(4)(a)", "Art. 14(4)(b)", "Art. 26(2)"))
    assert status(pack(lock={"mode": "GOVERNANCE", "days": 1}), "Art. 26(6)") == "falls short"
    assert status(pack(lock={"mode": "GOVERNANCE", "days": 200}), "Art. 26(6)") == "partly evidenced"
    broken = pack(problems=[Problem("k", "missing", "x")])
    assert status(broken, "Art. 12(1)") == "falls short"
    offline = pack(policy=None, kill_switch=None)
    assert status(offline, "Art. 26(2)") == "not evidenced" and status(offline, "Art. 14(4)(e)") == "partly evidenced"
    anchors = set(re.findall(r'id="([^"]+)"', render.page(good)))
    assert all(c["evidence"] is None or c["evidence"][1:] in anchors for c in good["checklist"])
    assert checklist(good) == good["checklist"]


def test_reviewers_authority_and_training_dates_are_art_26_evidence(tmp_path):
    person = {"roles": [], "authority": {"risk": "critical"}, "active": True}
    people = [{**person, "id": "alice", "trained_on": "2026-09-14"},
              {**person, "id": "bob", "roles": ["finance"], "authority": {"risk": "medium",
                                                                          "action_types": ["refund.issue"]},
               "trained_on": None},
              {**person, "id": "carol", "active": False, "trained_on": None}]
    partly = pack(people=people)
    item = next(c for c in partly["checklist"] if c["article"] == "Art. 26(2)")
    assert item["status"] == "partly evidenced" and "1 of 2 active reviewer(s) have a recorded training date" in item["note"]
    people[1]["trained_on"] = "2026-10-02"
    assert status(pack(people=people), "Art. 26(2)") == "evidenced"
    render.write(pack(people=people), tmp_path)
    page = (tmp_path / "index.html").read_text()
    assert ('<tr data-reviewer="bob"><td>bob</td><td>finance</td><td>medium</td><td>refund.issue</td><td>yes</td>'
            '<td>2026-10-02</td></tr>') in page
    assert '<tr data-reviewer="carol"><td>carol</td><td>none</td><td>critical</td><td>all</td><td>no</td>' in page


def test_the_page_is_self_contained_and_escapes_what_the_ai_wrote(tmp_path):
    render.write(pack(problems=[Problem("executions/x/000001.json", "missing", "the head")]), tmp_path)
    page = (tmp_path / "index.html").read_text()
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(EXTERNAL, page)
    assert "audit verify found 1 integrity problem(s)." in page and "<code>executions/x/000001.json</code>" in page
    assert page.count("<svg") >= 4
    assert json.loads((tmp_path / "evidence.json").read_text())["integrity"]["intact"] is False
