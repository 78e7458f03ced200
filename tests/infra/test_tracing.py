"""Tracing: every function is traced by Lambda itself (active tracing, no SDK in the code: the X-Ray SDK is out of
support from February 2027); a seller who wants a span per AWS call names AWS Distro for OpenTelemetry's layer per
Region (cdk.json `open_telemetry_layers`), and every function of that Region runs under its wrapper."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from aws_cdk.assertions import Template

from stacks.config import ConfigError, load_config
from stacks.constructs.lambda_code import OPEN_TELEMETRY_WRAPPER
from tests.infra.conftest import cdk_json_context
from tests.infra.test_regions import synth as synth_regions

MAIN, OTHER = "us-east-1", "eu-west-1"
WRAPPER, WRAPPER_PATH = OPEN_TELEMETRY_WRAPPER


def _layer(region: str, version: int = 16) -> str:
    return f"arn:aws:lambda:{region}:111122223333:layer:AWSOpenTelemetryDistroPython:{version}"


def _functions(template: Mapping[str, Any]) -> list[dict[str, Any]]:
    resources = template["Resources"].values()
    return [r["Properties"] for r in resources if r["Type"] == "AWS::Lambda::Function"]


def _ours(properties: dict[str, Any]) -> bool:
    """One of our Python functions (CDK adds a Node.js one of its own to some stacks)."""
    return str(properties.get("Handler", "")).startswith("functions.handlers.")


def test_every_function_is_traced_by_lambda_with_no_wrapper_by_default(template: Template) -> None:
    ours = [p for p in _functions(template.to_json()) if _ours(p)]
    assert len(ours) >= 4
    for properties in ours:
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert WRAPPER not in properties["Environment"]["Variables"]
        assert len(properties["Layers"]) == 1  # the dependencies' layer only


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return synth_regions(
        tmp_path_factory.mktemp("otel"),
        region=MAIN,
        regions=[OTHER],
        open_telemetry_layers={MAIN: _layer(MAIN), OTHER: _layer(OTHER, 9)},
    )


@pytest.mark.parametrize("region", [MAIN, OTHER])
def test_each_regions_functions_run_under_that_regions_open_telemetry_layer(
    traced: dict[str, dict[str, Any]], region: str
) -> None:
    ours = [p for p in _functions(traced[region]) if _ours(p)]
    assert ours, f"no function of ours in {region}"
    layer = _layer(region, 16 if region == MAIN else 9)
    for properties in ours:
        assert properties["Environment"]["Variables"][WRAPPER] == WRAPPER_PATH
        assert layer in properties["Layers"]
        assert len(properties["Layers"]) == 2  # ours and OpenTelemetry's
        assert properties["TracingConfig"] == {"Mode": "Active"}


def _config_error(**changes: Any) -> str:
    context = {**cdk_json_context()["marketplace"], **changes}
    with pytest.raises(ConfigError) as raised:
        load_config(context)
    return str(raised.value)


def test_a_layer_needs_the_main_region_named() -> None:
    assert "open_telemetry_layers: set `region` too" in _config_error(open_telemetry_layers={MAIN: _layer(MAIN)})


def test_a_layer_for_a_region_without_functions_is_refused() -> None:
    error = _config_error(region=MAIN, open_telemetry_layers={OTHER: _layer(OTHER)})
    assert f"open_telemetry_layers: {OTHER} runs none of this app's functions" in error


def test_a_layer_from_another_region_is_refused() -> None:
    error = _config_error(region=MAIN, open_telemetry_layers={MAIN: _layer(OTHER)})
    assert f"open_telemetry_layers.{MAIN}: the layer is in {OTHER}, not {MAIN}" in error


@pytest.mark.parametrize(
    "arn",
    [
        "AWSOpenTelemetryDistroPython",  # a name, not an ARN
        "arn:aws:lambda:us-east-1:111122223333:layer:AWSOpenTelemetryDistroPython",  # no version
        "arn:aws:lambda:us-east-1:111122223333:function:AWSOpenTelemetryDistroPython:1",  # a function
    ],
)
def test_a_value_that_is_no_layer_versions_arn_is_refused_naming_the_key(arn: str) -> None:
    assert f"marketplace.open_telemetry_layers.{MAIN}: String should match pattern" in _config_error(
        region=MAIN, open_telemetry_layers={MAIN: arn}
    )
