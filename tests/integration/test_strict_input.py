"""Strict input at every public entry point: the registration routes, the usage API and the operator CLI, through
the real handlers (proxy events as API Gateway sends them) and the CLI's own ``main``, on DynamoDB Local and the
emulator. A value is checked whole: a pattern never lets a trailing newline through."""

from __future__ import annotations

import io
import json
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.handlers import usage
from functions.registration import signing
from functions.settings import Settings
from local.apigateway import LambdaContext, proxy_event
from local.marketplace.testing import EmulatorHandle
from operations.cli import main
from operations.target import local_target
from tests.integration.registration_world import (
    BUYER,
    LICENSE_PRODUCT,
    REDIRECT_PRODUCT,
    SECRET,
    SIGNUP_URL,
    Harness,
    header,
    registration_harness,
)

DECIMAL_PRODUCT = "strictdecimal1"
PRODUCTS: list[dict[str, Any]] = [
    {"code": LICENSE_PRODUCT, "name": "Acme Analytics"},
    {"code": REDIRECT_PRODUCT, "name": "Acme Redirect", "signup_redirect_url": SIGNUP_URL},
    {"code": DECIMAL_PRODUCT, "name": "Acme Storage", "dimensions": [{"name": "gb", "quantity_type": "decimal"}]},
]


@pytest.fixture
def harness(marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Settings]) -> Harness:
    return registration_harness(marketplace, dynamodb, handler_environment, products=PRODUCTS)


def cli(harness: Harness, *argv: str) -> tuple[int, str, str]:
    """The operator's command line on this world's tables (the local target, as `make run`'s)."""
    out, err = io.StringIO(), io.StringIO()
    target = local_target(harness.settings, credentials={})
    status = main(list(argv), out=out, err=err, target=lambda _: target)
    return status, out.getvalue(), err.getvalue()


def post_usage(events: list[dict[str, Any]]) -> dict[str, Any]:
    body = json.dumps({"events": events}).encode()
    event = proxy_event("POST", "/usage", "/usage", headers={"Content-Type": ["application/json"]}, body=body)
    response: dict[str, Any] = usage.handler(event, LambdaContext(function_name="usage-test"))
    return response


def active_customer(harness: Harness, product_code: str) -> Customer:
    subscription = harness.subscribe(product_code)
    customer = Customer(
        CustomerRef(product_code, license_arn=subscription["license_arn"]),
        BUYER,
        SubscriptionState.ACTIVE,
        datetime.now(UTC),
    )
    harness.customers().put(customer)
    return customer


def signup_claims(harness: Harness, product_code: str = REDIRECT_PRODUCT) -> dict[str, Any]:
    """A buyer registered for a product with the seller's own sign-up page, and the claims that page verified."""
    response = harness.register(harness.subscribe(product_code)["registration_token"])
    assert response["statusCode"] == 303, response["body"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(header(response, "Location")).query)
    return signing.verify_signup_value(query[signing.SIGNUP_PARAMETER][0], SECRET)


def test_a_value_with_a_trailing_newline_matches_no_pattern(harness: Harness) -> None:
    # A registration token with a newline after it is refused before AWS Marketplace is asked
    response = harness.register("a-well-formed-token\n")
    assert response["statusCode"] == 400
    assert "Registration token not valid" in response["body"]
    assert harness.marketplace.admin.calls(operation="ResolveCustomer") == []
    # The seller's sign-up page linking a buyer to "acme-42\n" is refused, and nothing is linked
    claims = signup_claims(harness)
    now = datetime.now(UTC).timestamp()
    link = signing.tenant_link(claims, "acme-42\n", SECRET, now=now)
    refused = harness.post("/register/tenant", urllib.parse.urlencode({signing.TENANT_LINK_FIELD: link}))
    assert refused["statusCode"] == 400, refused["body"]
    assert [c.tenant_id for c in harness.customers().list_all()] == [None]
    # So is the operator's set-tenant, naming the field
    status, _, err = cli(harness, "set-tenant", BUYER, "acme-42\n")
    assert status == 2
    assert "tenant_id" in err
    assert [c.tenant_id for c in harness.customers().list_all()] == [None]
    # And a usage quantity "1.5\n" is not the decimal 1.5: refused naming the field, nothing stored
    customer = active_customer(harness, DECIMAL_PRODUCT)
    answer = post_usage(
        [
            {
                "event_id": "e-1",
                "product_code": DECIMAL_PRODUCT,
                "license_arn": customer.ref.license_arn,
                "customer_aws_account_id": BUYER,
                "dimension": "gb",
                "quantity": "1.5\n",
                "timestamp": datetime.now(UTC).isoformat(),
            }
        ]
    )
    assert answer["statusCode"] == 422, answer["body"]
    assert "events[0].quantity" in [e["field"] for e in json.loads(answer["body"])["errors"]]
    assert harness.items(harness.settings.usage_table) == []
