"""The seller's sign-up page links a buyer to its own tenant, through the real registration handler (proxy events as
API Gateway sends them), DynamoDB Local and the emulator over HTTP: for every shape of ResolveCustomer's answer (the
operator then finds the buyer with ``cli customers --tenant``), and with nothing a leaked URL could replay: the value
in the URL lives 15 minutes and is exchanged once, server to server, and the tenant link it allows is used once."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from functions.clock import FileOffsetClock
from functions.registration import signing
from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from tests.integration.registration_world import (
    BUYER,
    SECRET,
    SIGNUP_URL,
    Harness,
    assert_secure_page,
    cli,
    exchange,
    header,
    post_link,
    registration_harness,
    seller_signup,
    signup_value,
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
def harness(
    marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Settings], tmp_path: Path
) -> Harness:
    products = [{**shape, "name": name, "signup_redirect_url": SIGNUP_URL} for name, shape in SHAPES.items()]
    clock_file = tmp_path / "clock-offset-seconds"
    clock_file.write_text("0")
    return registration_harness(
        marketplace, dynamodb, handler_environment, products=products, CLOCK_FILE=str(clock_file)
    )


def advance(harness: Harness, seconds: float) -> None:
    """Move the handler's clock (its CLOCK_FILE offset)."""
    clock_file = Path(harness.settings.clock_file or "")
    clock_file.write_text(str(float(clock_file.read_text()) + seconds))


def now(harness: Harness) -> float:
    return FileOffsetClock(harness.settings.clock_file or "").now().timestamp()


def registered(harness: Harness, product_code: str = SHAPES["licence only"]["code"], account: str = BUYER) -> Any:
    """A buyer subscribes and registers: our answer sends their browser on to the seller's sign-up page."""
    response = harness.register(harness.subscribe(product_code, account)["registration_token"])
    assert header(response, "Location").startswith(SIGNUP_URL.split("?")[0])
    return response


@pytest.mark.parametrize("shape", SHAPES)
def test_the_sellers_page_links_a_buyer_of_every_resolve_customer_shape(harness: Harness, shape: str) -> None:
    product_code = SHAPES[shape]["code"]
    # Given a buyer sent to the seller's sign-up page, whose back end exchanged the value it was sent
    claims = seller_signup(harness, registered(harness, product_code))
    (customer,) = harness.customers().list_all()
    # When it links the buyer's new account to its tenant
    linked = post_link(harness, signing.tenant_link(claims, "acme-42", SECRET, now=now(harness)))
    # Then it is linked, and the operator finds the buyer by that tenant
    assert linked["statusCode"] == 200, linked["body"]
    status, out, err = cli(harness, "customers", "--tenant", "acme-42", "--json")
    assert status == 0, err
    (row,) = json.loads(out)
    assert (row["product"], row["account"], row["tenant"]) == (product_code, BUYER, "acme-42")
    assert row["customer"] == (customer.ref.license_arn or customer.ref.customer_identifier)
    # and the claims named the customer exactly as we keep it: by one name, its key's
    assert (claims["license_arn"], claims["customer_identifier"]) == (
        customer.ref.license_arn,
        customer.ref.customer_identifier,
    )


def test_a_sign_up_value_is_exchanged_once_and_only_by_the_sellers_back_end(harness: Harness) -> None:
    # Given a buyer sent to the seller's sign-up page: the page that sends them, like every page of ours, tells the
    # browser to send no Referer, and the URL carries a value that names the buyer and nothing personal
    token = harness.subscribe(SHAPES["licence only"]["code"])["registration_token"]
    response = harness.register(token)
    assert_secure_page(response)
    value = signup_value(response)
    (customer,) = harness.customers().list_all()
    assert BUYER not in value
    # When someone who saw the URL, but holds no secret of the seller's, asks for the buyer's claims
    for form in ({signing.SIGNUP_PARAMETER: value}, signing.signup_exchange(value, "a guess")):
        refused = harness.post("/register/signup", urllib.parse.urlencode(form))
        # Then they are refused, naming the signature, and learn nothing of the buyer
        assert refused["statusCode"] == 403, refused["body"]
        assert json.loads(refused["body"])["field"] == signing.SIGNATURE_FIELD
        assert BUYER not in refused["body"]
    # When the seller's back end exchanges it (server to server, signed)
    first = exchange(harness, value, idempotency_key="session-1")
    # Then it gets the buyer's claims
    assert first["statusCode"] == 200, first["body"]
    claims = json.loads(first["body"])["customer"]
    assert (claims["product_code"], claims["customer_aws_account_id"]) == (customer.ref.product_code, BUYER)
    assert claims["license_arn"] == customer.ref.license_arn
    assert claims["free_trial"] is False
    # and the seller's retry with its first exchange's Idempotency-Key (its answer lost) gets the same claims, the
    # same tenant-link nonce among them: the value still allows one link, ever
    again = exchange(harness, value, idempotency_key="session-1")
    assert again["statusCode"] == 200, again["body"]
    assert json.loads(again["body"])["customer"] == claims
    # but a repeat without that key, or with another (a leaked URL opened again), is refused (review 24b)
    assert exchange(harness, value)["statusCode"] == 409
    assert exchange(harness, value, idempotency_key="session-2")["statusCode"] == 409
    malformed = exchange(harness, value, idempotency_key="bad key\n")
    assert malformed["statusCode"] == 400
    assert json.loads(malformed["body"])["field"] == "Idempotency-Key"
    # and each registration again (the buyer's reload) sends a new value, which makes the one before worthless
    older = signup_value(harness.register(token))
    newer = signup_value(harness.register(token))
    assert exchange(harness, older)["statusCode"] == 409
    assert exchange(harness, newer)["statusCode"] == 200


def test_a_sign_up_value_expires_after_15_minutes(harness: Harness) -> None:
    # Given a value sent to the seller's page that nobody exchanged within 15 minutes
    value = signup_value(registered(harness))
    advance(harness, signing.SIGNUP_TTL_SECONDS)
    # When it is exchanged
    expired = exchange(harness, value)
    # Then it is gone: the buyer starts again from AWS Marketplace
    assert expired["statusCode"] == 410, expired["body"]
    assert json.loads(expired["body"]) == {
        "message": f"{signing.SIGNUP_PARAMETER} has expired",
        "field": signing.SIGNUP_PARAMETER,
    }
    # while one a minute younger is exchanged
    advance(harness, -60)
    assert exchange(harness, value)["statusCode"] == 200


def test_a_tenant_link_is_used_once_and_within_an_hour_of_the_exchange(harness: Harness) -> None:
    # Given the seller's back end exchanged a buyer's value and linked them to its tenant
    claims = seller_signup(harness, registered(harness))
    assert post_link(harness, signing.tenant_link(claims, "acme-42", SECRET, now=now(harness)))["statusCode"] == 200
    # When the same link is posted again (the seller's retry of a lost answer): done already, nothing changes
    assert post_link(harness, signing.tenant_link(claims, "acme-42", SECRET, now=now(harness)))["statusCode"] == 200
    # When another link made from the same claims is posted
    second = post_link(harness, signing.tenant_link(claims, "mallory-7", SECRET, now=now(harness)))
    # Then it is refused, saying so, and the buyer stays linked to the first tenant
    assert second["statusCode"] == 409, second["body"]
    assert "used already" in second["body"]
    (customer,) = harness.customers().list_all()
    assert customer.tenant_id == "acme-42"
    # And a link made more than an hour after its exchange is refused too, linking nothing
    late = seller_signup(harness, registered(harness, account="444455556666"))
    advance(harness, signing.TENANT_LINK_TTL_SECONDS)
    refused = post_link(harness, signing.tenant_link(late, "acme-43", SECRET, now=now(harness)))
    assert refused["statusCode"] == 400, refused["body"]
    assert "too long after its sign-up exchange" in refused["body"]
    assert harness.customers().of_tenant("acme-43") == []


def test_a_link_made_for_buyer_a_never_attaches_to_buyer_b(harness: Harness) -> None:
    # Given two buyers sent to the seller's page, both exchanged
    buyer_a = seller_signup(harness, registered(harness, account=BUYER))
    buyer_b = seller_signup(harness, registered(harness, account="444455556666"))
    # When the seller's back end mixes them up: B's name with the use A's exchange allowed
    mixed = {**buyer_b, signing.TENANT_LINK_NONCE: buyer_a[signing.TENANT_LINK_NONCE]}
    refused = post_link(harness, signing.tenant_link(mixed, "acme-42", SECRET, now=now(harness)))
    # Then nothing is linked to B
    assert refused["statusCode"] == 409, refused["body"]
    assert {c.customer_aws_account_id: c.tenant_id for c in harness.customers().list_all()} == {
        BUYER: None,
        "444455556666": None,
    }
    # and each buyer's own link attaches that buyer alone
    for claims, tenant in ((buyer_a, "tenant-a"), (buyer_b, "tenant-b")):
        assert post_link(harness, signing.tenant_link(claims, tenant, SECRET, now=now(harness)))["statusCode"] == 200
    assert {c.customer_aws_account_id: c.tenant_id for c in harness.customers().list_all()} == {
        BUYER: "tenant-a",
        "444455556666": "tenant-b",
    }
