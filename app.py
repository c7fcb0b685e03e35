#!/usr/bin/env python3
"""CDK entry point: configuration from context → the Countersign stack, checked by cdk-nag.

Run by the CDK CLI (``cdk synth|deploy -c key=value``) or directly: ``python app.py`` reads
cdk.json's context itself and accepts the same ``-c key=value`` overrides, so synth needs neither
the CLI nor an AWS account.
"""
import json
import os
import sys
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from countersign.workflow.asl import CheckpointBudgetExceeded
from stacks.config import Config, ConfigError
from stacks.countersign_stack import CountersignStack


def build(app: cdk.App) -> CountersignStack:
    config = Config.from_context(app.node.try_get_context)
    stack = CountersignStack(app, f"Countersign-{config.stage}", config=config, env=cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(verbose=True), ServerlessChecks(verbose=True))
    return stack


def context_from(argv: list[str]) -> dict:
    """cdk.json's context, then ``-c key=value`` pairs (the CLI's own context, when it runs us,
    arrives through CDK_CONTEXT_JSON and takes precedence over both)."""
    context = json.loads((Path(__file__).parent / "cdk.json").read_text())["context"]
    for flag, pair in zip(argv, argv[1:]):
        if flag in ("-c", "--context") and "=" in pair:
            key, value = pair.split("=", 1)
            context[key] = value
    return context


def main(argv: list[str], outdir: str | None = None) -> int:
    """``python app.py [-c key=value ...]``; ``outdir`` for a caller in the same process (the jsii
    runtime read ``CDK_OUTDIR`` when it started)."""
    app = cdk.App(context=context_from(argv), outdir=outdir)
    try:
        build(app)
    except (ConfigError, CheckpointBudgetExceeded) as exc:
        print(f"countersign: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        app.synth()
    except RuntimeError as exc:   # cdk-nag findings arrive as a jsii ValidationFailed error
        print(f"countersign: synth failed: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
