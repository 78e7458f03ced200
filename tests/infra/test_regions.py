"""Metering in several Regions (cdk.json `regions`): the main stack keeps the lifecycle, registration and its own
metering; each listed Region gets a metering stack of its own (usage API, usage and metering tables, one flush) that
checks buyers against its Region's replica of the customers table. Personal data stays in the main Region."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from app import build_app
from operations.target import resolve_regional, resolve_stack
from stacks.config import ConfigError
from stacks.schema import CUSTOMERS
from tests.infra.conftest import actions, cdk_json_context, function_statements
from tests.infra.test_cli_resolution import SynthesizedStack
from tests.infra.test_least_privilege import WILDCARD_ONLY
from tests.infra.test_upgrade import REPLACED_BY

MAIN = "us-east-1"
OTHERS = ("eu-west-1", "ap-southeast-2")


def synth(tmp_path: Path, **changes: Any) -> dict[str, dict[str, Any]]:
    """Each stack's template, by the stack's Region."""
    context = cdk_json_context()
    context["marketplace"] = {**context["marketplace"], **changes}
    app = cdk.App(context=context, outdir=str(tmp_path / "cdk.out"))
    build_app(app)
    return {stack.environment.region: stack.template for stack in app.synth().stacks}


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return synth(tmp_path_factory.mktemp("regions"), region=MAIN, regions=list(OTHERS))


def resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def our_functions(template: dict[str, Any]) -> dict[str, Any]:
    return {
        name: f
        for name, f in resources(template, "AWS::Lambda::Function").items()
        if f["Properties"].get("Handler", "").startswith("functions.")
    }


def test_only_the_customers_table_is_replicated_to_every_metering_region(templates: dict[str, Any]) -> None:
    tables = resources(templates[MAIN], "AWS::DynamoDB::GlobalTable")
    replicated = {
        name: sorted(replica["Region"] for replica in table["Properties"]["Replicas"]) for name, table in tables.items()
    }
    customers = next(name for name in replicated if name.startswith(f"Tables{CUSTOMERS.logical_name}"))
    assert replicated.pop(customers) == sorted((MAIN, *OTHERS))
    # personal data (Contacts), idempotency records and the main Region's own usage and ledger stay where they are
    assert all(regions == [MAIN] for regions in replicated.values()), replicated


def test_each_region_meters_with_its_own_usage_api_tables_and_one_flush(templates: dict[str, Any]) -> None:
    assert set(templates) == {MAIN, *OTHERS}
    for region in OTHERS:
        template = templates[region]
        handlers = sorted(f["Properties"]["Handler"] for f in our_functions(template).values())
        # the flush, and beside it (review 27) the function answering the main Region's final-usage requests
        assert handlers == [
            "functions.handlers.flush.handler",
            "functions.handlers.flush.handler",
            "functions.handlers.usage.handler",
        ]
        tables = resources(template, "AWS::DynamoDB::GlobalTable")
        assert sorted(name.split("Tables")[1][:5] for name in tables) == ["Meter", "Usage"]
        assert all([r["Region"] for r in t["Properties"]["Replicas"]] == [region] for t in tables.values())
        schedules = sorted(
            (r["Properties"]["ScheduleExpression"], r["Properties"]["Targets"][0].get("Input"))
            for r in resources(template, "AWS::Events::Rule").values()
            if "ScheduleExpression" in r["Properties"]
        )
        # the hourly flush, its runs before the month-end cutoff, and every 5 minutes the main Region's requests for
        # leaving buyers' final usage
        assert schedules == [
            ("cron(0/10 0-5 1 * ? *)", None),
            ("rate(1 hour)", None),
            ("rate(5 minutes)", '{"final_usage_requests":true}'),
        ]

        methods = resources(template, "AWS::ApiGateway::Method")
        assert [m["Properties"]["AuthorizationType"] for m in methods.values()] == ["AWS_IAM"]
    # the main stack still meters in its own Region, and its lifecycle asks the others for leaving buyers' usage
    main_functions = {f["Properties"]["Handler"]: f for f in our_functions(templates[MAIN]).values()}
    assert "functions.handlers.flush.handler" in main_functions
    lifecycle = main_functions["functions.handlers.lifecycle.handler"]["Properties"]["Environment"]["Variables"]
    assert lifecycle["OTHER_METERING_REGIONS"] == ",".join(OTHERS)


def test_a_regions_functions_reach_only_their_regions_tables_and_the_customers_replica_there(
    templates: dict[str, Any],
) -> None:
    for region in OTHERS:
        template = templates[region]
        own_tables = set(resources(template, "AWS::DynamoDB::GlobalTable"))
        granted_here: dict[str, set[str]] = {}
        for function in our_functions(template).values():
            # the customers table, by the name the main stack publishes, in this Region
            customers_name = function["Properties"]["Environment"]["Variables"]["CUSTOMERS_TABLE"]
            assert customers_name["Fn::GetStackOutput"]["Region"] == MAIN
            for statement in function_statements(template["Resources"], function):
                granted = actions(statement)
                if statement["Resource"] == "*":
                    assert granted <= WILDCARD_ONLY, granted
                    continue
                if not any(a.startswith("dynamodb:") for a in granted):
                    continue
                resource = json.dumps(statement["Resource"])
                on_own_table = any(f'"{name}"' in resource for name in own_tables)
                on_replica_here = f"arn:aws:dynamodb:{region}:" in resource and "GetStackOutput" in resource
                assert on_own_table or on_replica_here, (granted, resource)
                if on_replica_here:  # buyers are read, never written, outside the main Region; only the main
                    # Region's requests for a leaving buyer's final usage are read and answered (deleted)
                    assert granted <= {
                        "dynamodb:BatchGetItem",
                        "dynamodb:Scan",
                        "dynamodb:Query",
                        "dynamodb:DeleteItem",
                    }
                    granted_here.setdefault(function["Properties"]["Handler"], set()).update(granted)
        # and each does exactly what it needs there: usage reads buyers; the flush lists them (zero-usage records),
        # reads whether a buyer asked about is still leaving, and reads and answers the main Region's requests
        assert granted_here == {
            "functions.handlers.usage.handler": {"dynamodb:BatchGetItem"},
            "functions.handlers.flush.handler": {
                "dynamodb:Scan",
                "dynamodb:BatchGetItem",
                "dynamodb:Query",
                "dynamodb:DeleteItem",
            },
        }


def stateful(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: {"Type": r["Type"], **{k: r["Properties"][k] for k in REPLACED_BY[r["Type"]] if k in r["Properties"]}}
        for name, r in template["Resources"].items()
        if r["Type"] in REPLACED_BY
    }


def test_adding_regions_replaces_nothing_in_the_main_stack(tmp_path: Path, templates: dict[str, Any]) -> None:
    one_region = synth(tmp_path, region=MAIN)
    assert list(one_region) == [MAIN]
    assert stateful(templates[MAIN]) == stateful(one_region[MAIN])


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"regions": ["eu-west-1"]}, "set `region` too"),
        ({"region": MAIN, "regions": [MAIN]}, "is the main stack's region"),
        ({"region": MAIN, "regions": ["eu-west-1", "eu-west-1"]}, "each Region once"),
        ({"region": MAIN, "regions": ["Europe"]}, "marketplace.regions.0"),
        # 3300 + 90 + 300 + 60 s: another Region's final send would fall after the final hour
        ({"region": MAIN, "regions": ["eu-west-1"], "final_usage_cutoff_seconds": 3300}, "must be under 3600"),
    ],
)
def test_a_bad_region_list_is_refused_naming_it(tmp_path: Path, changes: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        synth(tmp_path, **changes)


def test_the_cli_resolves_each_regions_synthesized_metering_stack(templates: dict[str, Any]) -> None:
    # cli usage and reconcile learn the Regions from the main stack's flush, then read each Region's stack
    # <stack>-<region> by the logical ids it synthesizes
    main = resolve_stack(SynthesizedStack(Template.from_json(templates[MAIN])), "MarketplaceMetering", MAIN)
    assert main.settings.other_metering_regions == OTHERS
    for other in OTHERS:
        template = Template.from_json(templates[other])
        settings = resolve_regional(SynthesizedStack(template), "MarketplaceMetering", other)
        tables = template.find_resources("AWS::DynamoDB::GlobalTable")
        assert sorted((settings.usage_table, settings.metering_table)) == sorted(tables)
        assert settings.region == other
        assert settings.products, "products come from the Region's flush function's environment"
