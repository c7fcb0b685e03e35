"""The checkpoint budget: paths through Choice, Catch, Parallel and Map, counted from the ASL."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from countersign.workflow.asl import CheckpointBudgetExceeded, check_budget, paths

GATE = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken"}
STEP = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke"}


def chain(*names: str, gate=lambda n: n.startswith("G")) -> dict:
    states = {}
    for name, following in zip(names, names[1:] + (None,)):
        state = dict(GATE if gate(name) else STEP)
        state.update({"Next": following} if following else {"End": True})
        states[name] = state
    return {"StartAt": names[0], "States": states}


def test_the_approval_gate_has_one_gate_on_its_human_paths():
    definition = json.loads(Path("statemachines/approval_gate.asl.json").read_text())
    found = {p.describe(): len(p.gates) for p in paths(definition)}
    act = ("Act → Conclude", "Act → RunAction → Conclude")        # every route ends the same way
    decided = [f"Decided → {end}" for end in act] + [f"Escalate → NextTier → {end}" for end in act]
    human = {"Stage → SignOff → Decided", "Stage → SignOff → Expired", "RequestReview → Decided",
             "RequestReview → Escalate → NextTier", "ExecuteFirst → ReverseWindow → Decided",
             "ExecuteFirst → ReverseWindow → Kept", "VetoWindow → Decided", "VetoWindow → Unvetoed → HoldForHuman"}
    expected = {f"Prepare → Route → {steps} → {end}": 1 for steps in human for end in act}
    expected.update({f"Prepare → Route → AutoApprove → HoldForHuman → {end}": 0 for end in act})
    # the kill switch (human) holds an auto-approval, or a closed veto window, for one more human review
    expected.update({f"Prepare → Route → AutoApprove → HoldForHuman → RequestReview → {end}": 1 for end in decided})
    expected.update({f"Prepare → Route → VetoWindow → Unvetoed → HoldForHuman → RequestReview → {end}": 2
                     for end in decided})
    expected.update({"Prepare → Route → Refused": 0, "Prepare → Route → Halted": 0, "Prepare → Route → Conclude": 0,
                     "Prepare → Route → Stage → Conclude": 0,             # the executor failed: no human asked
                     "Prepare → Route → ExecuteFirst → Conclude": 0})
    assert found == expected
    with pytest.raises(CheckpointBudgetExceeded, match="VetoWindow → Unvetoed → HoldForHuman → RequestReview"):
        check_budget(definition, max_gates=1)      # so the stock workflow needs a budget of at least 2
    check_budget(definition)


def test_four_gates_in_a_row_exceed_the_default_budget_and_the_path_is_named():
    with pytest.raises(CheckpointBudgetExceeded) as refused:
        check_budget(chain("Start", "G1", "G2", "G3", "G4", "Done"), name="over.asl.json")
    assert "over.asl.json: 1 path(s) exceed the checkpoint budget of 3" in str(refused.value)
    assert "4 gates (G1, G2, G3, G4): Start → G1 → G2 → G3 → G4 → Done" in str(refused.value)
    check_budget(chain("Start", "G1", "G2", "Done"), max_gates=2)


def test_only_the_choice_branch_that_is_over_budget_is_reported():
    definition = chain("Start", "Pick")
    definition["States"]["Pick"] = {"Type": "Choice", "Choices": [{"Variable": "$.x", "BooleanEquals": True,
                                                                   "Next": "G1"}], "Default": "Fine"}
    definition["States"].update({**chain("G1", "G2", "G3", "G4")["States"], "Fine": {"Type": "Succeed"}})
    with pytest.raises(CheckpointBudgetExceeded) as refused:
        check_budget(definition)
    assert "Start → Pick → G1 → G2 → G3 → G4" in str(refused.value) and "Fine" not in str(refused.value)


def test_parallel_branches_add_up_and_map_items_count_their_worst_path():
    parallel = {"Type": "Parallel", "Branches": [chain("GA", "GB"), chain("GC", "GD")], "End": True}
    with pytest.raises(CheckpointBudgetExceeded, match=r"4 gates \(GA, GB, GC, GD\)"):
        check_budget({"StartAt": "Both", "States": {"Both": parallel}})
    mapped = {"Type": "Map", "ItemProcessor": chain("X", "G1", "G2"), "Next": "G3"}
    definition = {"StartAt": "Each", "States": {"Each": mapped, "G3": {**GATE, "End": True}}}
    assert [len(p.gates) for p in paths(definition)] == [3]


def test_a_catch_path_counts_and_an_escalation_loop_counts_each_gate_once():
    definition = chain("G1", "Done")
    definition["States"]["G1"]["Catch"] = [{"ErrorEquals": ["States.Timeout"], "Next": "Escalate"}]
    definition["States"]["Escalate"] = {"Type": "Pass", "Next": "G1"}      # back to the same gate
    found = sorted(p.describe() for p in paths(definition))
    assert found == ["G1 → Done", "G1 → Escalate → ↺ G1"]
    check_budget(definition, max_gates=1)
