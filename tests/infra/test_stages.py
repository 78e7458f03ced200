"""Stages: one account holds beta and prod side by side, each its own stack; a stage other than prod never bills
unless its configuration says so, and then its roles may not even call BatchMeterUsage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from app import build_app
from stacks.config import ConfigError
from tests.infra.conftest import actions, cdk_json_context, synth


def _marketplace(**changes: Any) -> dict[str, Any]:
    marketplace: dict[str, Any] = {**cdk_json_context()["marketplace"], **changes}
    return marketplace


def _stack_name_and_template(tmp_path: Path, context: dict[str, Any]) -> tuple[str, Template]:
    app = cdk.App(context={**cdk_json_context(), **context}, outdir=str(tmp_path / "cdk.out"))
    stack = build_app(app)
    app.synth()
    return stack.stack_name, Template.from_stack(stack)


def _granted_actions(template: Template) -> set[str]:
    policies = template.find_resources("AWS::IAM::Policy").values()
    return actions(*(s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]))


def _metering_modes(template: Template) -> set[str]:
    return {
        f["Properties"]["Environment"]["Variables"]["METERING_MODE"]
        for f in template.find_resources("AWS::Lambda::Function").values()
        if "METERING_MODE" in f["Properties"].get("Environment", {}).get("Variables", {})
    }


def test_the_stack_without_a_stage_is_named_as_configured_and_bills(template: Template, tmp_path: Path) -> None:
    name, _ = _stack_name_and_template(tmp_path, {})
    assert name == "MarketplaceMetering"
    assert _metering_modes(template) == {"live"}
    assert "aws-marketplace:BatchMeterUsage" in _granted_actions(template)


def test_a_beta_stage_is_its_own_stack_that_never_bills(tmp_path: Path) -> None:
    # Given `cdk deploy --context stage=beta` and nothing else
    name, template = _stack_name_and_template(tmp_path, {"stage": "beta"})
    # Then it is a stack of its own, metering dry-run, and no role of it may call BatchMeterUsage
    assert name == "MarketplaceMetering-beta"
    assert _metering_modes(template) == {"dry-run"}
    assert "aws-marketplace:BatchMeterUsage" not in _granted_actions(template)
    # and its functions say their stage, which tags their metrics, which its alarms watch
    stages = {
        f["Properties"]["Environment"]["Variables"].get("STAGE")
        for f in template.find_resources("AWS::Lambda::Function").values()
        if "METERING_MODE" in f["Properties"].get("Environment", {}).get("Variables", {})
    }
    assert stages == {"beta"}
    ours = [
        a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "MarketplaceMetering"
    ]
    assert len(ours) >= 4  # failed, unprocessed, mismatched and oldest unsent
    assert all({"Name": "stage", "Value": "beta"} in alarm["Dimensions"] for alarm in ours)


def test_a_stage_goes_live_only_by_saying_so(tmp_path: Path) -> None:
    _, template = synth(tmp_path, _marketplace(stage="beta", metering_mode="live"))
    assert _metering_modes(template) == {"live"}
    assert "aws-marketplace:BatchMeterUsage" in _granted_actions(template)


def test_the_prod_stage_bills_by_default_and_may_rehearse_in_dry_run(tmp_path: Path) -> None:
    name, prod = _stack_name_and_template(tmp_path / "prod", {"stage": "prod"})
    assert (name, _metering_modes(prod)) == ("MarketplaceMetering-prod", {"live"})
    _, rehearsal = synth(tmp_path / "rehearsal", _marketplace(metering_mode="dry-run"))
    assert _metering_modes(rehearsal) == {"dry-run"}
    assert "aws-marketplace:BatchMeterUsage" not in _granted_actions(rehearsal)


@pytest.mark.parametrize(
    ("changes", "named_field"),
    [
        ({"stage": "Beta!"}, "marketplace.stage"),
        ({"stage": "b" * 17}, "marketplace.stage"),
        ({"metering_mode": "maybe"}, "marketplace.metering_mode"),
    ],
)
def test_a_bad_stage_or_mode_is_refused_naming_the_key(
    tmp_path: Path, changes: dict[str, Any], named_field: str
) -> None:
    with pytest.raises(ConfigError, match=named_field.replace(".", r"\.")):
        synth(tmp_path, _marketplace(**changes))
