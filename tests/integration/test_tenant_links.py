"""The seller's sign-up page links a buyer to its own tenant, for every shape of ResolveCustomer's answer, through the
real registration handler (proxy events as API Gateway sends them), DynamoDB Local and the emulator over HTTP; the
operator then finds the buyer with ``cli customers --tenant``."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.registration import signing
from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from tests.integration.registration_world import (
    BUYER,
    SECRET,
    SIGNUP_URL,
    Harness,
    cli,
    header,
    registration_harness,
)

# (what ResolveCustomer answers, the seller's product as configured and as AWS Marketplace knows it)
SHAPES: dict[str, dict[str, Any]] = {
    # a product listed since licence-based metering: LicenseArn only
    "licence only": {"code": "shapelicence1", "customer_mode": "license"},
    # a product that existed before: LicenseArn and CustomerIdentifier, metered by either
    "licence and identifier, metered by identifier": {"code": "shapeboth1", "customer_mode": "legacy"},
    "licence and identifier, metered by licence": {
        "code": "shapeboth2",
        "customer_mode": "license",
        "emulated": {"customer_mode": "legacy"},
    },
    # a legacy product's answer from before AWS added LicenseArn: CustomerIdentifier only
    "identifier only": {
        "code": "shapeidentifier1",
        "customer_mode": "legacy",
        "emulated": {"resolve_customer_shape": "identifier-only"},
    },
}


@pytest.fixture
def harness(marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Settings]) -> Harness:
    products = [{**shape, "name": name, "signup_redirect_url": SIGNUP_URL} for name, shape in SHAPES.items()]
    return registration_harness(marketplace, dynamodb, handler_environment, products=products)


def sent_to_signup(harness: Harness, product_code: str) -> dict[str, Any]:
    """A buyer subscribes and registers; our answer sends their browser to the seller's sign-up page, whose back end
    reads the value it carries."""
    response = harness.register(harness.subscribe(product_code)["registration_token"])
    assert response["statusCode"] == 303, response["body"]
    location = header(response, "Location")
    assert location.startswith(SIGNUP_URL.split("?")[0])
    value = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)[signing.SIGNUP_PARAMETER][0]
    return signing.verify_signup_value(value, SECRET)


def post_link(harness: Harness, link: str) -> dict[str, Any]:
    return harness.post("/register/tenant", urllib.parse.urlencode({signing.TENANT_LINK_FIELD: link}))


@pytest.mark.parametrize("shape", SHAPES)
def test_the_sellers_page_links_a_buyer_of_every_resolve_customer_shape(harness: Harness, shape: str) -> None:
    product_code = SHAPES[shape]["code"]
    # Given a buyer sent to the seller's sign-up page
    claims = sent_to_signup(harness, product_code)
    (customer,) = harness.customers().list_all()
    # When the page, having created the buyer's account, links it to its tenant
    linked = post_link(harness, signing.tenant_link(claims, "acme-42", SECRET, now=datetime.now(UTC).timestamp()))
    # Then it is linked, and the operator finds the buyer by that tenant
    assert linked["statusCode"] == 200, linked["body"]
    status, out, err = cli(harness, "customers", "--tenant", "acme-42", "--json")
    assert status == 0, err
    (row,) = json.loads(out)
    assert (row["product"], row["account"], row["tenant"]) == (product_code, BUYER, "acme-42")
    assert row["customer"] == (customer.ref.license_arn or customer.ref.customer_identifier)
    # and the value the page was sent names the customer exactly as we keep it: by one name, its key's
    assert (claims["license_arn"], claims["customer_identifier"]) == (
        customer.ref.license_arn,
        customer.ref.customer_identifier,
    )
