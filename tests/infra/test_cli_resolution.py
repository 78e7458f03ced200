"""The operator CLI finds a deployed stack's tables and flush function by the logical ids this stack synthesizes."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template

from operations.target import StackResource, resolve_stack


class SynthesizedStack:
    """Our StackLookup over the synthesized template: each logical id stands in for its physical name."""

    def __init__(self, template: Template) -> None:
        self._resources: dict[str, Any] = template.to_json()["Resources"]

    def resources(self, stack_name: str) -> list[StackResource]:
        return [StackResource(logical, logical, r["Type"]) for logical, r in self._resources.items()]

    def function_environment(self, function_name: str) -> dict[str, str]:
        variables = self._resources[function_name]["Properties"]["Environment"]["Variables"]
        # deployed, every value is a string; here table names are still references
        return {name: value for name, value in variables.items() if isinstance(value, str)}


def test_the_cli_resolves_the_synthesized_stack(template: Template) -> None:
    stack = resolve_stack(SynthesizedStack(template), "MarketplaceMetering", "us-east-1")
    flush_functions = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "functions.handlers.flush.handler"}}
    )
    assert [stack.flush_function] == list(flush_functions)
    tables = template.find_resources("AWS::DynamoDB::GlobalTable")
    resolved = stack.settings
    named = {
        "Customers": resolved.customers_table,
        "Contacts": resolved.contacts_table,
        "Usage": resolved.usage_table,
        "Metering": resolved.metering_table,
        "Idempotency": resolved.idempotency_table,
    }
    assert sorted(named.values()) == sorted(tables)
    assert all(table.startswith(f"Tables{name}") for name, table in named.items())
    assert resolved.products, "products come from the flush function's environment"
