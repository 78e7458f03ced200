"""Template assertions for the stack as cdk.json configures it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from stacks.config import ConfigError
from stacks.schema import ALL_TABLES
from tests.infra.conftest import ROOT, cdk_json_context, synth


def test_each_shared_table_definition_is_a_protected_encrypted_table(template: Template) -> None:
    tables = template.find_resources("AWS::DynamoDB::GlobalTable")
    assert len(tables) == len(ALL_TABLES)
    for spec in ALL_TABLES:
        template.has_resource(
            "AWS::DynamoDB::GlobalTable",
            {
                "DeletionPolicy": "Retain",
                "Properties": Match.object_like(
                    {
                        "KeySchema": Match.array_with([{"AttributeName": spec.partition_key, "KeyType": "HASH"}]),
                        "BillingMode": "PAY_PER_REQUEST",
                        "SSESpecification": {"SSEEnabled": True},
                        "Replicas": [
                            Match.object_like(
                                {
                                    "DeletionProtectionEnabled": True,
                                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                                }
                            )
                        ],
                        **(
                            {"TimeToLiveSpecification": {"AttributeName": spec.ttl_attribute, "Enabled": True}}
                            if spec.ttl_attribute
                            else {}
                        ),
                    }
                ),
            },
        )


def _marketplace(**changes: Any) -> dict[str, Any]:
    marketplace: dict[str, Any] = cdk_json_context()["marketplace"]
    marketplace.update(changes)
    return marketplace


@pytest.mark.parametrize(
    ("changes", "named_field"),
    [
        ({"products": []}, "marketplace.products"),
        ({"flush_schedule": "every hour"}, "marketplace.flush_schedule"),
        ({"metering_calls_per_second": 201}, "marketplace.metering_calls_per_second"),
        # bounded by the functions' own settings, at synth as at run time (one definition)
        ({"audit_retention_days": 4000}, "marketplace.audit_retention_days"),
        ({"final_usage_cutoff_seconds": 3500}, "marketplace.final_usage_cutoff_seconds"),
        ({"notification_email": "not-an-email"}, "marketplace.notification_email"),
        ({"products": [{"code": "abc", "name": "x", "dimensions": []}]}, "marketplace.products.0.dimensions"),
        ({"products": [{"code": "a b", "name": "x", "dimensions": [{"name": "d"}]}]}, "marketplace.products.0.code"),
        (
            {"products": [{"code": "ab", "name": "x", "dimensions": [{"name": ""}]}]},
            "marketplace.products.0.dimensions.0.name",
        ),
        (
            {"products": [{"code": "ab", "name": "x", "dimensions": [{"name": "d"}], "colour": "red"}]},
            "marketplace.products.0.colour",
        ),
        (
            {"products": [{"code": "ab", "name": "x", "dimensions": [{"name": "d"}], "pricing": "free"}]},
            "marketplace.products.0.pricing",
        ),
        ({"unknown_setting": 1}, "marketplace.unknown_setting"),
        # the onboarding form: only fields the seller lists, each bounded
        ({"contact_fields": [{"name": "team", "label": "Team", "max_length": 5000}]}, "marketplace.contact_fields.0"),
        ({"contact_fields": [{"name": "Team!", "label": "Team"}]}, "marketplace.contact_fields.0"),
        ({"contact_fields": []}, "marketplace.contact_fields"),
    ],
)
def test_synth_refuses_an_invalid_configuration_naming_the_field(
    tmp_path: Path, changes: dict[str, Any], named_field: str
) -> None:
    with pytest.raises(ConfigError, match=named_field.replace(".", r"\.")):
        synth(tmp_path, _marketplace(**changes))


def test_python_app_py_writes_where_cdk_outdir_says(tmp_path: Path) -> None:
    # When the app is run by hand with CDK_OUTDIR set (as the CDK CLI sets it)
    outdir = tmp_path / "elsewhere"
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={**os.environ, "CDK_OUTDIR": str(outdir)},
        capture_output=True,
        text=True,
        check=False,
    )
    # Then the cloud assembly is there
    assert result.returncode == 0, result.stderr
    assert (outdir / "manifest.json").is_file()
    assert list(outdir.glob("*.template.json"))


def test_a_stack_wide_setting_reaches_every_function_as_the_functions_read_it(tmp_path: Path) -> None:
    # Given a seller's cdk.json setting one of the functions' settings
    _, template = synth(tmp_path, _marketplace(final_usage_cutoff_seconds=1800, metering_calls_per_second=7.5))
    # Then every function's environment carries it, spelled as functions.settings reads it back
    functions = template.find_resources("AWS::Lambda::Function")
    for function in functions.values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert (variables["FINAL_USAGE_CUTOFF_SECONDS"], variables["METERING_CALLS_PER_SECOND"]) == ("1800", "7.5")


@pytest.mark.parametrize(("calls_per_second", "memory_mb"), [(10, 1024), (50, 1024), (160, 2048)])
def test_the_flush_gets_the_cpu_its_quota_needs(tmp_path: Path, calls_per_second: int, memory_mb: int) -> None:
    # Given a seller's quota (10 calls/s unless AWS raised it)
    _, template = synth(tmp_path, _marketplace(metering_calls_per_second=calls_per_second))
    # Then the flush has the memory (Lambda's CPU grows with it) to make that many calls a second
    flush = [
        f["Properties"]
        for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "functions.handlers.flush.handler"
    ]
    assert [f["MemorySize"] for f in flush] == [memory_mb]
