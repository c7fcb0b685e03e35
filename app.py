#!/usr/bin/env python3
"""CDK entry point: configuration from context → the Countersign stack, checked by cdk-nag."""
import os
import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from stacks.config import Config, ConfigError
from stacks.countersign_stack import CountersignStack


def build(app: cdk.App) -> CountersignStack:
    config = Config.from_context(app.node.try_get_context)
    stack = CountersignStack(app, f"Countersign-{config.stage}", config=config, env=cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(verbose=True), ServerlessChecks(verbose=True))
    return stack


if __name__ == "__main__":
    app = cdk.App()
    try:
        build(app)
    except ConfigError as exc:
        print(f"countersign: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    app.synth()
