"""Lambda SnapStart, per function from cdk.json: restored from published versions through alias ``live``, which API
Gateway, the queue and the schedule invoke (and the flush's continuation); off by default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from stacks.config import ConfigError
from tests.infra.conftest import cdk_json_context, synth

HANDLERS = {
    "registration": "functions.handlers.registration.handler",
    "usage": "functions.handlers.usage.handler",
    "flush": "functions.handlers.flush.handler",
    "lifecycle": "functions.handlers.lifecycle.handler",
}


def _function_id(template: Template, handler: str) -> str:
    (found,) = [
        logical_id
        for logical_id, resource in template.find_resources("AWS::Lambda::Function").items()
        if resource["Properties"].get("Handler") == handler
    ]
    return found


def _alias_of(template: Template, function_id: str) -> str:
    (alias,) = [
        logical_id
        for logical_id, resource in template.find_resources("AWS::Lambda::Alias").items()
        if resource["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    return alias


def _mentions(value: Any, logical_id: str) -> bool:
    """Whether a template value refers to ``logical_id`` (Ref, Fn::GetAtt or inside an Fn::Join)."""
    if isinstance(value, dict):
        if value.get("Ref") == logical_id or value.get("Fn::GetAtt", [None])[0] == logical_id:
            return True
        return any(_mentions(v, logical_id) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, logical_id) for v in value)
    return False


@pytest.fixture(scope="module")
def snap_started(tmp_path_factory: pytest.TempPathFactory) -> Template:
    marketplace = {**cdk_json_context()["marketplace"], "snap_start": ["registration", "usage", "flush", "lifecycle"]}
    _, template = synth(tmp_path_factory.mktemp("snapstart"), marketplace)
    return template


def test_off_by_default_functions_are_invoked_unqualified(template: Template) -> None:
    template.resource_count_is("AWS::Lambda::Alias", 0)
    for resource in template.find_resources("AWS::Lambda::Function").values():
        assert "SnapStart" not in resource["Properties"]


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_a_snap_started_function_publishes_versions_behind_its_live_alias(snap_started: Template, name: str) -> None:
    function_id = _function_id(snap_started, HANDLERS[name])
    function = snap_started.find_resources("AWS::Lambda::Function")[function_id]
    assert function["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    alias_id = _alias_of(snap_started, function_id)
    alias = snap_started.find_resources("AWS::Lambda::Alias")[alias_id]
    assert alias["Properties"]["Name"] == "live"
    version_id = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
    version = snap_started.find_resources("AWS::Lambda::Version")[version_id]
    assert version["Properties"]["FunctionName"] == {"Ref": function_id}


def test_api_gateway_invokes_the_aliases(snap_started: Template) -> None:
    for name in ("registration", "usage"):
        alias_id = _alias_of(snap_started, _function_id(snap_started, HANDLERS[name]))
        methods = snap_started.find_resources("AWS::ApiGateway::Method")
        assert any(_mentions(m["Properties"]["Integration"].get("Uri"), alias_id) for m in methods.values()), name
        permissions = snap_started.find_resources("AWS::Lambda::Permission")
        assert any(p["Properties"]["FunctionName"] == {"Ref": alias_id} for p in permissions.values()), name


def test_the_queue_and_the_schedule_invoke_the_aliases(snap_started: Template) -> None:
    lifecycle_alias = _alias_of(snap_started, _function_id(snap_started, HANDLERS["lifecycle"]))
    (mapping,) = snap_started.find_resources("AWS::Lambda::EventSourceMapping").values()
    assert _mentions(mapping["Properties"]["FunctionName"], lifecycle_alias)  # the alias's name:live
    flush_alias = _alias_of(snap_started, _function_id(snap_started, HANDLERS["flush"]))
    rules = snap_started.find_resources("AWS::Events::Rule")
    scheduled = [r for r in rules.values() if "ScheduleExpression" in r["Properties"]]
    # the hourly schedule and the month-end one
    assert [t["Arn"] for r in scheduled for t in r["Properties"]["Targets"]] == [{"Ref": flush_alias}] * 2


def test_the_flush_continues_through_its_alias(snap_started: Template) -> None:
    flush_alias = _alias_of(snap_started, _function_id(snap_started, HANDLERS["flush"]))
    policies = snap_started.find_resources("AWS::IAM::Policy")
    invoke = [
        statement
        for policy in policies.values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "lambda:InvokeFunction"
    ]
    assert [s["Resource"] for s in invoke] == [{"Ref": flush_alias}]


def test_an_unknown_function_name_is_refused_naming_the_key(tmp_path: Path) -> None:
    marketplace = {**cdk_json_context()["marketplace"], "snap_start": ["registration", "billing"]}
    with pytest.raises(ConfigError, match=r"marketplace\.snap_start"):
        synth(tmp_path, marketplace)
