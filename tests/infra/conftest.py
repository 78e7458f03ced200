from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from app import build_app

ROOT = Path(__file__).resolve().parents[2]


def cdk_json_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context


def synth(tmp_path: Path, marketplace: dict[str, Any] | None = None) -> tuple[cdk.App, Template]:
    context = cdk_json_context()
    if marketplace is not None:
        context["marketplace"] = marketplace
    app = cdk.App(context=context, outdir=str(tmp_path / "cdk.out"))
    stack = build_app(app)
    # synth runs the cdk-nag AwsSolutions validation plugin: any unacknowledged finding fails here
    app.synth()
    return app, Template.from_stack(stack)


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    _, synthesized = synth(tmp_path_factory.mktemp("synth"))
    return synthesized
