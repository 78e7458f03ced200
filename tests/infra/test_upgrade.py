"""Upgrading a deployed stack replaces nothing that holds data: every stateful resource of the last one-Region release
(tests/infra/upgrade_baseline.json) is still synthesized under the same logical id, with the same type and the same
properties whose change makes CloudFormation replace it (a table's name and keys, a queue's name...). New stateful
resources may be added (the Contacts table, a new index is an in-place update)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from app import build_app
from tests.infra.conftest import ROOT, cdk_json_context

BASELINE = ROOT / "tests" / "infra" / "upgrade_baseline.json"
# what replaces each stateful resource type when it changes (CloudFormation's "Update requires: Replacement")
REPLACED_BY = {
    "AWS::DynamoDB::Table": ("TableName", "KeySchema", "LocalSecondaryIndexes"),
    "AWS::DynamoDB::GlobalTable": ("TableName", "KeySchema", "LocalSecondaryIndexes"),
    "AWS::SQS::Queue": ("QueueName", "FifoQueue"),
    "AWS::KMS::Key": (),
    "AWS::Logs::LogGroup": ("LogGroupName",),
    "AWS::SecretsManager::Secret": ("Name",),
    "AWS::SNS::Topic": ("TopicName", "FifoTopic"),
    "AWS::Events::EventBus": ("Name",),
}


def stateful_resources(outdir: Path) -> dict[str, dict[str, Any]]:
    app = cdk.App(context=cdk_json_context(), outdir=str(outdir))
    build_app(app)
    found: dict[str, dict[str, Any]] = {}
    for stack in app.synth().stacks:
        for logical_id, resource in stack.template["Resources"].items():
            kind = resource["Type"]
            if kind in REPLACED_BY:
                properties = resource.get("Properties", {})
                kept = {name: properties[name] for name in REPLACED_BY[kind] if name in properties}
                found[f"{stack.stack_name}/{logical_id}"] = {"Type": kind, **kept}
    return found


def test_an_upgrade_replaces_no_resource_that_holds_data(tmp_path: Path) -> None:
    released: dict[str, dict[str, Any]] = json.loads(BASELINE.read_text())["resources"]
    assert any(r["Type"] == "AWS::DynamoDB::GlobalTable" for r in released.values())  # the baseline is a real one
    now = stateful_resources(tmp_path)
    missing = sorted(set(released) - set(now))
    assert not missing, f"gone or renamed (CloudFormation would delete or replace them): {missing}"
    changed = {name: (released[name], now[name]) for name in released if released[name] != now[name]}
    assert not changed, f"changed in a way that replaces them: {changed}"
