"""What the evidence pack is made from, read from a deployed stack or from an export.

From a stack: the deployed workflow definition (``describe_state_machine``), the policy and the
kill switch (SSM), the reviewer registry (the workflow's first step's ``REVIEWERS``, which
policy entries without their own reviewers fall back on, and each reviewer's roles, authority and
training date from the registry parameter), the bucket's Object Lock settings, the
digest public key and the trail for the period (``trail.read``). From an export: the trail, its
lock settings and public key; the rest is read from a stack when one is named, else the workflow
comes from the ASL files in ``statemachines/`` (when present) and the rest is listed as missing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from countersign.evidence import trail
from countersign.evidence.verify import Stored

ASL_DIR = Path(__file__).resolve().parents[3] / "statemachines"


class Unreadable(RuntimeError):
    """Something the pack needs could not be read; the message is the one-line reason."""


@dataclass
class Sources:
    objects: list[Stored]
    public_key_der: bytes
    lock: dict[str, Any] | None
    workflows: list[dict[str, Any]] = field(default_factory=list)     # {"name", "source", "definition"}
    policy: dict[str, Any] | None = None
    kill_switch: str | None = None
    registry: list[str] | None = None
    origin: dict[str, str] = field(default_factory=dict)              # part → where it came from
    missing: list[str] = field(default_factory=list)                  # what is not in the pack, and why
    people: list[dict[str, Any]] | None = None     # the registry: roles, authority, active, trained_on (no emails)


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def from_stack(target: Any, since: str | None, until: str | None, progress: Callable[[int, int], None],
               trail_too: bool = True) -> Sources:
    """Everything from a deployed stack (``trail_too=False``: all but the trail, for an export)."""
    src = Sources([], b"", None)
    where = f"stack {target.stack}" + (f" at {target.endpoint}" if target.endpoint else "")
    try:
        arn = target.outputs["StateMachineArn"]
        definition = json.loads(target.sfn.describe_state_machine(stateMachineArn=arn)["definition"])
        src.workflows = [{"name": arn.rsplit(":", 1)[-1], "source": f"deployed definition of {arn}",
                          "definition": definition}]
        src.policy = json.loads(target.ssm.get_parameter(Name=target.outputs["PolicyParameterName"])
                                ["Parameter"]["Value"])
        src.kill_switch = target.ssm.get_parameter(Name=target.outputs["KillSwitchParameterName"])["Parameter"]["Value"]
    except Exception as exc:        # access denied, a missing output or parameter
        raise Unreadable(f"cannot read the deployed workflow, policy or kill switch of {where}: {_first_line(exc)}")
    src.origin.update(workflows=f"{where}: the deployed state machine definition",
                      policy=f"{where}: SSM parameter {target.outputs['PolicyParameterName']}",
                      kill_switch=f"{where}: SSM parameter {target.outputs['KillSwitchParameterName']}")
    src.registry, note = _registry(target, definition)
    src.origin["registry"] = note
    if src.registry is None:
        src.missing.append(f"the reviewer registry: {note}")
    src.people, note = _people(target, where)
    src.origin["reviewers"] = note
    if src.people is None:
        src.missing.append(f"the reviewers' roles, authority and training dates: {note}")
    if trail_too:
        try:
            src.lock, src.public_key_der = trail.lock_settings(target), trail.public_key(target)
            src.objects = trail.read(target, since, until, None, progress)
        except Exception as exc:
            raise Unreadable(f"cannot read the trail of {where}: {_first_line(exc)}")
        src.origin.update(trail=f"{where}: bucket {target.outputs['AuditBucketName']}",
                          lock=f"{where}: the bucket's Object Lock configuration")
    return src


def _registry(target: Any, definition: dict[str, Any]) -> tuple[list[str] | None, str]:
    """Every configured reviewer: the ``REVIEWERS`` of the function the workflow starts with."""
    start = definition.get("States", {}).get(definition.get("StartAt"), {})
    function = (start.get("Parameters") or start.get("Arguments") or {}).get("FunctionName")
    if not function:
        return None, "not read: the workflow's first step names no function"
    try:
        config = target.client("lambda").get_function_configuration(FunctionName=function)
    except Exception as exc:
        return None, f"not read: {_first_line(exc)}"
    names = config.get("Environment", {}).get("Variables", {}).get("REVIEWERS")
    if names is None:
        return None, f"not read: {function} has no REVIEWERS setting"
    return [r for r in names.split(",") if r], f"the REVIEWERS setting of {function}"


def _people(target: Any, where: str) -> tuple[list[dict[str, Any]] | None, str]:
    """Each reviewer's roles, authority, active flag and training date (Art. 26), from the
    deployed registry; emails and IAM principals are left out of the pack."""
    from countersign.review.registry import parse

    name = target.outputs.get("ReviewerRegistryParameterName")
    if not name:
        return None, "not read: the stack has no ReviewerRegistryParameterName output"
    try:
        registry = parse(json.loads(target.ssm.get_parameter(Name=name)["Parameter"]["Value"]))
    except Exception as exc:        # access denied, or a registry that no longer parses
        return None, f"not read: {_first_line(exc)}"
    return [{k: v for k, v in r.to_dict().items() if k not in ("email", "principals")} for r in registry.reviewers], \
        f"{where}: SSM parameter {name}"


def from_export(path: str, since: str | None, until: str | None, target: Any | None) -> Sources:
    """The trail from an export (filtered to the period, as ``trail.read`` would); the deployed
    configuration from ``target`` when given."""
    try:
        with open(path, encoding="utf-8") as lines:
            objects, der, lock, _ = trail.load_export(iter(lines))
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        raise Unreadable(f"cannot read the export {path}: {_first_line(exc)}")
    wanted = trail.selects(since, until)
    objects = [o for o in objects if o.key.startswith("digests/") or wanted(o.key.rpartition("/")[0])]
    src = from_stack(target, since, until, lambda d, t: None, trail_too=False) if target else Sources([], b"", None)
    src.objects, src.public_key_der, src.lock = objects, der, lock
    src.origin.update(trail=f"export {Path(path).name}", lock=f"export {Path(path).name} (its header)")
    if target is None:
        files = sorted(ASL_DIR.glob("*.asl.json")) if ASL_DIR.is_dir() else []
        src.workflows = [{"name": f.name, "source": f"statemachines/{f.name} (not the deployed definition)",
                          "definition": json.loads(f.read_text())} for f in files]
        src.origin["workflows"] = "the ASL files in statemachines/" if files else "not available"
        src.missing += [
            *([] if files else ["the workflows: no stack was named and no ASL files are at hand"]),
            "the deployed policy (escalation criteria, authority, quorum): no stack was named (--stack/--endpoint)",
            "the kill switch's current state: no stack was named (its flips in the trail are shown)",
            "the reviewer registry: no stack was named",
            "the reviewers' roles, authority and training dates: no stack was named",
        ]
    return src


def from_args(args: Any, target_of: Callable[[Any], Any], progress: Callable[[int, int], None]) -> tuple[Sources, Any]:
    """What a report reads, and the stack it names (or None): an export (``--from``, with the
    deployed parts from a stack only when one is named), else the stack."""
    if args.source:
        target = target_of(args) if (args.endpoint or args.stack) else None
        return from_export(args.source, args.since, args.until, target), target
    target = target_of(args)
    return from_stack(target, args.since, args.until, progress), target
