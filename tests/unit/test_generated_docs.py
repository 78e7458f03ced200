"""Documents generated from the code match it: a change to the usage model without ``make docs`` fails here."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from docs.generate import CLIENT_LIMITS, GENERATED, OPENAPI, ROOT, USAGE_SCHEMA
from functions.handlers import registration, usage
from functions.usage.schema import MAX_EVENTS
from usage_client import limits


@pytest.mark.parametrize("path", list(GENERATED), ids=[p.name for p in GENERATED])
def test_each_generated_document_is_what_the_code_generates(path) -> None:
    assert path.read_text() == GENERATED[path](), f"{path.relative_to(ROOT)} drifted: run `make docs`"


def test_the_schema_describes_what_the_model_enforces() -> None:
    event = json.loads(USAGE_SCHEMA.read_text())["$defs"]["UsageEventIn"]
    assert event["properties"]["timestamp"]["format"] == "date-time"
    assert "timestamp" in event["required"]  # an event's identity holds whatever its timestamp: one is required
    assert event["properties"]["license_arn"]["pattern"].startswith("^arn:aws")  # applies to strings, not null
    assert event["additionalProperties"] is False


def test_the_openapi_document_is_valid_openapi_3_1() -> None:
    document = json.loads(OPENAPI.read_text())
    validate(document)  # raises, naming what is wrong
    assert document["openapi"] == "3.1.0"


def test_the_openapi_document_describes_exactly_the_handlers_routes() -> None:
    # the handlers' own route tables: a route added to a handler and not to the document fails here (registration
    # takes a form post on each route and explains a GET of it)
    routes = {(route.method.lower(), route.path) for route in (*usage.app._static_routes, *usage.app._dynamic_routes)}
    routes |= {(method, path) for path in registration.ROUTES for method in ("post", "get")}
    document = json.loads(OPENAPI.read_text())
    described = {(method, path) for path, item in document["paths"].items() for method in item}
    assert described == routes


def test_the_usage_body_in_the_openapi_document_is_the_models_schema() -> None:
    document = json.loads(OPENAPI.read_text())
    operation = document["paths"]["/usage"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/UsageBatchIn"
    }
    batch = document["components"]["schemas"]["UsageBatchIn"]
    assert batch["properties"]["events"]["maxItems"] == MAX_EVENTS
    assert operation["security"] == [{"sigv4": []}]  # the deployed method's AWS_IAM (tests/infra checks the template)


def test_the_clients_limits_are_the_apis() -> None:
    assert CLIENT_LIMITS.read_text() == GENERATED[CLIENT_LIMITS]()
    assert (limits.MAX_EVENTS, limits.MAX_BODY_BYTES) == (MAX_EVENTS, usage.MAX_BODY_BYTES)
