from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from app import build_app

ROOT = Path(__file__).resolve().parents[2]


def role_statements(resources: Mapping[str, Any], role_id: str) -> list[dict[str, Any]]:
    """The IAM statements of the role ``role_id``, from a template's resources (``Template.to_json()["Resources"]``
    or a synthesized template's ``Resources``)."""
    return [
        statement
        for resource in resources.values()
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in resource["Properties"]["Roles"]
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]


def function_statements(resources: Mapping[str, Any], function: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The IAM statements of a function's role."""
    return role_statements(resources, function["Properties"]["Role"]["Fn::GetAtt"][0])


def actions(*statements: Mapping[str, Any]) -> set[str]:
    """Every action the statements grant (one statement's ``Action`` is a string or a list)."""
    granted: set[str] = set()
    for statement in statements:
        found = statement["Action"]
        granted |= {found} if isinstance(found, str) else set(found)
    return granted


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
