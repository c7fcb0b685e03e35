"""Synthesize the CDK app in-process (no CDK CLI) with cdk.json's context plus overrides."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Synthesized:
    stack: Any
    template: dict[str, Any]
    outdir: Path


def context(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    ctx = json.loads((ROOT / "cdk.json").read_text())["context"]
    return {**ctx, **(overrides or {})}


def synthesize(outdir: Path, overrides: dict[str, Any] | None = None) -> Synthesized:
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import aws_cdk as cdk

    import app as cdk_app

    app = cdk.App(context=context(overrides), outdir=str(outdir))
    stack = cdk_app.build(app)
    app.synth()
    template = json.loads((outdir / f"{stack.stack_name}.template.json").read_text())
    return Synthesized(stack, template, outdir)
