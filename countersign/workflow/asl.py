"""Analysis of Amazon States Language definitions: the workflow as a reviewed artefact.

``paths`` enumerates every path from the start to an end state, through Choice rules, Catch
handlers, Parallel branches and Map iterators; ``check_budget`` counts the human gates
(``.waitForTaskToken`` tasks) on each and reports every path that exceeds the budget. A gate
revisited by a loop (escalating one review to the next tier) counts once: paths are simple.
The same analysis feeds the synth-time check and the compliance report.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_GATES = 3


@dataclass(frozen=True)
class Path:
    states: tuple[str, ...]       # readable steps; Parallel/Map expand to their worst inner path
    gates: tuple[str, ...]        # the human gates on it, in order

    def describe(self) -> str:
        return " → ".join(self.states)


class CheckpointBudgetExceeded(ValueError):
    pass


def is_gate(state: dict[str, Any]) -> bool:
    return state.get("Type") == "Task" and str(state.get("Resource", "")).endswith(".waitForTaskToken")


def _successors(state: dict[str, Any]) -> list[str]:
    found = [state["Next"]] if "Next" in state else []
    found += [rule["Next"] for rule in state.get("Choices", [])]
    found += [state["Default"]] if "Default" in state else []
    found += [catch["Next"] for catch in state.get("Catch", [])]
    return list(dict.fromkeys(found))


def _worst(definition: dict[str, Any], prefix: str) -> Path:
    candidates = paths(definition)
    worst = max(candidates, key=lambda p: len(p.gates))
    return Path(tuple(f"{prefix}{s}" for s in worst.states), worst.gates)


def _expand(name: str, state: dict[str, Any]) -> Path:
    """One state as it contributes to a path: itself, or its inner worst case."""
    if state.get("Type") == "Parallel":
        inner = [_worst(branch, f"{name}[{i}]:") for i, branch in enumerate(state["Branches"])]
        return Path(tuple(s for p in inner for s in p.states), tuple(g for p in inner for g in p.gates))
    if state.get("Type") == "Map":
        iterator = state.get("ItemProcessor") or state.get("Iterator")
        inner = _worst(iterator, f"{name}[item]:")
        return Path(inner.states, inner.gates)
    return Path((name,), (name,) if is_gate(state) else ())


def paths(definition: dict[str, Any]) -> list[Path]:
    states = definition["States"]
    found: list[Path] = []

    def walk(name: str, seen: tuple[str, ...], steps: tuple[str, ...], gates: tuple[str, ...]) -> None:
        state = states[name]
        part = _expand(name, state)
        steps, gates = steps + part.states, gates + part.gates
        nexts = [n for n in _successors(state) if n not in seen]
        if state.get("End") or state.get("Type") in ("Succeed", "Fail") or not _successors(state):
            found.append(Path(steps, gates))
        elif not nexts:   # only loops back: the path is complete, its gates already counted
            found.append(Path(steps + tuple(f"↺ {n}" for n in _successors(state)), gates))
        for following in nexts:
            walk(following, seen + (following,), steps, gates)

    walk(definition["StartAt"], (definition["StartAt"],), (), ())
    return found


def check_budget(definition: dict[str, Any], max_gates: int = DEFAULT_MAX_GATES, name: str = "workflow") -> None:
    """Raise CheckpointBudgetExceeded naming every path with more than ``max_gates`` human gates."""
    over = [p for p in paths(definition) if len(p.gates) > max_gates]
    if over:
        lines = "\n".join(f"  {len(p.gates)} gates ({', '.join(p.gates)}): {p.describe()}" for p in over)
        raise CheckpointBudgetExceeded(
            f"{name}: {len(over)} path(s) exceed the checkpoint budget of {max_gates} human gate(s):\n{lines}")
