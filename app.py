#!/usr/bin/env python3
"""CDK app: synthesizes offline, with no Docker and no AWS credentials."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.config import ConfigError, load_config
from stacks.constructs.lambda_code import LayerNotBuiltError
from stacks.constructs.lifecycle import MARKETPLACE_REGION
from stacks.forwarder_stack import ForwarderStack
from stacks.metering_stack import MeteringStack
from stacks.regional_stack import RegionalMeteringStack
from stacks.schema import CUSTOMERS


def build_app(app: cdk.App) -> MeteringStack:
    context = app.node.try_get_context("marketplace")
    stage = app.node.try_get_context("stage")  # `cdk deploy --context stage=beta` overrides cdk.json's
    if stage is not None and isinstance(context, dict):
        context = {**context, "stage": stage}
    config = load_config(context)
    region = cdk.Environment(region=config.region) if config.region else None
    stack = MeteringStack(app, config.deployed_name, config=config, env=region)
    for other in config.regions:
        RegionalMeteringStack(
            app,
            f"{config.deployed_name}-{other}",
            config=config,
            customers=stack.tables.by_spec[CUSTOMERS].replica(other),
            env=cdk.Environment(region=other),
        )
    if config.region and config.region != MARKETPLACE_REGION:
        ForwarderStack(
            app,
            f"{config.deployed_name}-Forwarder",
            target_region=config.region,
            products=config.settings.products,
            env=cdk.Environment(region=MARKETPLACE_REGION),
        )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack


def _cdk_json_context() -> dict[str, Any]:
    """cdk.json's context, for `python app.py` run without the CDK CLI (which passes it itself)."""
    context: dict[str, Any] = json.loads((Path(__file__).parent / "cdk.json").read_text())["context"]
    return context


def main() -> int:
    app = cdk.App()
    if app.node.try_get_context("marketplace") is None:  # run as `python app.py`, not by the CDK CLI
        # the CLI names the output directory in CDK_OUTDIR; by hand it may be named the same way
        app = cdk.App(context=_cdk_json_context(), outdir=os.environ.get("CDK_OUTDIR") or "cdk.out")
    try:
        build_app(app)
    except (ConfigError, LayerNotBuiltError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
