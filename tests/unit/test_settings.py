from __future__ import annotations

import json
from dataclasses import asdict
from decimal import Decimal

import pytest

from functions.settings import (
    STACK_SETTINGS,
    Dimension,
    Product,
    Settings,
    SettingsError,
    product_from_json,
    settings_environment,
    settings_from_env,
)

PRODUCT = {"code": "prod1", "name": "P", "dimensions": [{"name": "api_calls"}]}


def test_settings_are_read_from_the_given_environment() -> None:
    settings = settings_from_env(
        {"USAGE_TABLE": "u", "PRODUCTS": json.dumps([PRODUCT]), "METERING_CALLS_PER_SECOND": "7.5"}
    )
    assert settings.usage_table == "u"
    assert settings.metering_calls_per_second == Decimal("7.5")
    product = settings.product("prod1")
    assert product is not None
    assert product.dimension("api_calls") is not None
    assert product.dimension("nope") is None


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"PRODUCTS": "{not json"}, "PRODUCTS"),
        ({"FLUSH_GRACE_SECONDS": "-1"}, "FLUSH_GRACE_SECONDS"),
        ({"PRODUCTS": json.dumps([{**PRODUCT, "dimensions": [{"name": "a"}, {"name": "a"}]}])}, "PRODUCTS[0]"),
        ({"PRODUCTS": json.dumps([{**PRODUCT, "colour": "red"}])}, "PRODUCTS[0]"),
        (
            {"PRODUCTS": json.dumps([{**PRODUCT, "dimensions": [{"name": "a", "quantity_type": "float"}]}])},
            "PRODUCTS[0]",
        ),
        ({"PRODUCTS": json.dumps([{"name": "no code", "dimensions": [{"name": "a"}]}])}, "PRODUCTS[0]"),
        ({"PRODUCTS": json.dumps(PRODUCT)}, "PRODUCTS"),
        ({"USAGE_SHARDS": "many"}, "USAGE_SHARDS"),
        ({"USAGE_SHARDS": "0"}, "USAGE_SHARDS"),
        ({"METERING_CALLS_PER_SECOND": "NaN"}, "METERING_CALLS_PER_SECOND"),
        ({"METERING_CALLS_PER_SECOND": "201"}, "METERING_CALLS_PER_SECOND"),
    ],
)
def test_an_invalid_environment_is_refused_naming_the_variable(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named.replace("[", r"\[").replace("]", r"\]")):
        settings_from_env(environ)


def test_a_product_as_the_stack_writes_it_reads_back_the_same() -> None:
    # Given a product as synth validated it, written into PRODUCTS the way the stack writes it
    product = Product(
        code="prod1",
        name="P",
        dimensions=(Dimension(name="calls"), Dimension(name="gb", quantity_type="decimal")),
        customer_mode="legacy",
        signup_redirect_url="https://seller.example/signup",
        legacy_sns=True,
    )
    # When a function reads its environment
    settings = settings_from_env({"PRODUCTS": json.dumps([asdict(product)])})
    # Then it holds the same product
    assert settings.products == (product,)


def test_the_signing_secret_is_left_out_of_the_settings_repr() -> None:
    settings = settings_from_env({"SIGNING_SECRET": "s3cr3t-value"})
    assert settings.signing_secret == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(settings)


def test_every_setting_round_trips_through_the_environment_the_stack_and_local_stack_write() -> None:
    settings = Settings(
        products=(product_from_json(PRODUCT),),
        event_bus_name="bus",
        flush_grace_seconds=120,
        metering_calls_per_second=Decimal("7.5"),
        final_usage_cutoff_seconds=1800,
        signing_secret="s",
    )
    assert settings_from_env(settings_environment(settings)) == settings


def test_stack_settings_are_the_cdk_json_keys_the_functions_read() -> None:
    expected = {"products", "flush_grace_seconds", "audit_retention_days", "final_usage_cutoff_seconds"}
    assert set(STACK_SETTINGS) >= expected
    assert "customers_table" not in STACK_SETTINGS  # the stack names its tables itself
