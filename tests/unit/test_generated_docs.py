"""Documents generated from the code match it: a change to the usage model without ``make docs`` fails here."""

from __future__ import annotations

import json

from docs.generate import USAGE_SCHEMA, usage_schema


def test_the_usage_api_schema_in_docs_is_the_models() -> None:
    assert USAGE_SCHEMA.read_text() == usage_schema(), "run `make docs`"


def test_the_schema_describes_what_the_model_enforces() -> None:
    event = json.loads(USAGE_SCHEMA.read_text())["$defs"]["UsageEventIn"]
    assert event["properties"]["timestamp"]["anyOf"][0]["format"] == "date-time"
    assert event["properties"]["license_arn"]["pattern"].startswith("^arn:aws")  # applies to strings, not null
    assert event["additionalProperties"] is False
