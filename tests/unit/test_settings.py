from __future__ import annotations

import json
from decimal import Decimal

import pytest

from functions.settings import SettingsError, settings_from_env

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
    ],
)
def test_an_invalid_environment_is_refused_naming_the_variable(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named.replace("[", r"\[").replace("]", r"\]")):
        settings_from_env(environ)
