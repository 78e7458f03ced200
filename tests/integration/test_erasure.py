"""A buyer's erasure leaves nothing behind: after every kind of write the stack makes for them (registration, the
onboarding form, the seller's sign-up exchange and tenant link, lifecycle notifications, usage, the hourly flush,
their final usage as they leave), ``cli forget-customer`` erases them, and then no table, no event published and no
log line holds their e-mail, name or tenant id. Through the real handlers, on DynamoDB Local, the emulator and the
lifecycle queue on moto; the CLI on the local target."""

from __future__ import annotations

import io
import json
import logging
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.handlers import flush, registration
from functions.registration import signing
from functions.seller_events import RecordingPublisher
from functions.settings import get_settings
from functions.wiring import lifecycle as lifecycle_wiring
from functions.wiring import registration as registration_wiring
from local.apigateway import LambdaContext, proxy_event
from local.controls import scheduled_event
from local.marketplace.testing import EmulatorHandle
from operations.cli import main
from operations.target import local_target
from stacks.schema import ALL_TABLES
from tests.integration.lifecycle_world import LifecycleWorld, lifecycle_world

ONBOARDING = "erasureform1"  # our onboarding form asks for the buyer's details
SIGNUP = "erasuresignup1"  # the seller's own sign-up page, linking the buyer to its tenant
BUYER = "111122223333"
NAME = "Ada Lovelace"
EMAIL = "ada.lovelace@example.com"
TENANT = "ada@tenant.example"  # a tenant id may be an e-mail address
PERSONAL = (NAME, EMAIL, TENANT)
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def world(
    marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Any], tmp_path: Path
) -> Iterator[LifecycleWorld]:
    for code in (ONBOARDING, SIGNUP):
        marketplace.admin.create_product(code, ["api_calls"], fulfillment_url="http://127.0.0.1:9/register")
    products = [
        {"code": ONBOARDING, "name": "Onboarding product", "dimensions": [{"name": "api_calls"}]},
        {
            "code": SIGNUP,
            "name": "Sign-up product",
            "dimensions": [{"name": "api_calls"}],
            "signup_redirect_url": "https://seller.example/signup",
        },
    ]
    with lifecycle_world(marketplace, dynamodb, handler_environment, tmp_path, products) as started:
        yield started


def post(path: str, fields: dict[str, str]) -> dict[str, Any]:
    body = urllib.parse.urlencode(fields).encode()
    event = proxy_event("POST", path, path, headers={"Content-Type": [FORM]}, body=body)
    response: dict[str, Any] = registration.handler(event, LambdaContext(function_name="registration"))
    return response


def register(token: str) -> dict[str, Any]:
    return post("/register", {"x-amzn-marketplace-token": token})


def completion(page: dict[str, Any]) -> str:
    assert page["statusCode"] == 200, page["body"]
    return str(page["body"]).split('name="registration" value="', 1)[1].split('"', 1)[0]


def exchanged(world: LifecycleWorld, sent: dict[str, Any]) -> dict[str, Any]:
    """The seller's back end exchanges the value our answer sent the buyer's browser to its page with."""
    assert sent["statusCode"] == 303, sent["body"]
    location = sent["multiValueHeaders"]["Location"][0]
    value = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)[signing.SIGNUP_PARAMETER][0]
    answer = post("/register/signup", signing.signup_exchange(value, world.settings.signing_secret or ""))
    assert answer["statusCode"] == 200, answer["body"]
    claims: dict[str, Any] = json.loads(answer["body"])["customer"]
    return claims


def link(world: LifecycleWorld, claims: dict[str, Any], tenant: str) -> dict[str, Any]:
    made = signing.tenant_link(claims, tenant, world.settings.signing_secret or "", now=world.clock.now().timestamp())
    return post("/register/tenant", {signing.TENANT_LINK_FIELD: made})


def forget(world: LifecycleWorld, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    target = local_target(world.settings, credentials={}, clock=world.clock)
    status = main(["forget-customer", *argv], out=out, err=err, target=lambda _: target)
    return status, out.getvalue(), err.getvalue()


def every_table(world: LifecycleWorld) -> str:
    """Every item of every table the stack defines, as text."""
    return json.dumps(
        {
            spec.logical_name: world.dynamodb.scan(TableName=getattr(world.settings, spec.settings_field))["Items"]
            for spec in ALL_TABLES
        }
    )


def every_event() -> str:
    """Every event the registration and lifecycle functions published (no bus in tests: their publishers keep
    them)."""
    settings = get_settings()
    publishers = [registration_wiring.build(settings).registrations.publisher]
    publishers.append(lifecycle_wiring.build(settings).lifecycle.publisher)
    events = []
    for publisher in publishers:
        assert isinstance(publisher, RecordingPublisher)
        events += [{"detail-type": e.detail_type, "detail": e.detail} for e in publisher.events]
    return json.dumps(events)


def hits(text: str) -> dict[str, int]:
    return {value: text.count(value) for value in PERSONAL}


def test_an_erased_buyer_leaves_nothing_behind(
    world: LifecycleWorld, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # the application log level in Lambda (botocore's DEBUG lines print request bodies: they stay off, as in Lambda)
    caplog.set_level(logging.INFO)
    admin = world.marketplace.admin
    # Given a buyer of two products, subscribed, their notifications handled by the lifecycle function
    onboarding = admin.subscribe(ONBOARDING, BUYER)
    signup = admin.subscribe(SIGNUP, BUYER)
    world.deliver()
    # who registered for the first and completed our onboarding form with their name and e-mail
    details = {"company": "Analytical Engines", "contact_name": NAME, "email": EMAIL, "phone": "+44 20 7946 0000"}
    done = post(
        "/register/complete", {"registration": completion(register(onboarding["registration_token"])), **details}
    )
    assert done["statusCode"] == 200, done["body"]
    # and for the second, where the seller's back end exchanged their sign-up value and linked them to its tenant
    claims = exchanged(world, register(signup["registration_token"]))
    assert link(world, claims, TENANT)["statusCode"] == 200
    world.deliver()
    # whose usage was taken and billed by the hourly flush
    customers = {c.ref.product_code: c for c in world.customers.list_all()}
    for code, customer in customers.items():
        assert list(world.use(customer, 3, f"use-{code}").accepted) == [f"use-{code}"]
    world.pass_time(65 * 60)
    # the whole 15 minutes of a Lambda run: all of it is done in this one, with no continuation to invoke
    summary = flush.handler(scheduled_event(), LambdaContext(function_name="flush", timeout_seconds=900))
    assert summary["succeeded"] == 2, summary
    # and who left: their final usage was sent, and they ended
    for code, customer in customers.items():
        world.use(customer, 2, f"last-{code}")
    for subscription in (onboarding, signup):
        admin.unsubscribe(subscription["agreement_id"])
    world.deliver()
    world.pass_time(2 * 3600)
    assert {c.state.value for c in world.customers.list_all()} == {"ended"}
    billed = sorted((r["license_arn"], r["quantity"]) for r in admin.ledger())
    assert len(billed) == 4
    # (their details and tenant are where the stack keeps them, and nowhere else)
    assert all(found > 0 for found in hits(every_table(world)).values())
    # When the operator erases the buyer
    status, out, err = forget(world, BUYER, "--json")
    # Then both customers' personal data are erased, the tenant id with them
    assert status == 0, err
    assert sorted((row["product"], row["outcome"], row["fields"]) for row in json.loads(out)) == [
        (ONBOARDING, "erased", "company, contact_name, email, phone"),
        (SIGNUP, "erased", "tenant_id"),
    ]
    # and no table, no event published, no log line holds their e-mail, name or tenant id
    assert hits(every_table(world)) == dict.fromkeys(PERSONAL, 0)
    assert hits(every_event()) == dict.fromkeys(PERSONAL, 0)
    captured = capsys.readouterr()
    assert hits(captured.out + captured.err + caplog.text) == dict.fromkeys(PERSONAL, 0)
    # (the logs were captured: the functions' own lines are there)
    assert "customer linked to a tenant" in captured.out + caplog.text
    # and what billing and audit need stays: who they are to AWS, their lifecycle, what Marketplace billed
    assert {c.ref.key: c.state.value for c in world.customers.list_all()} == {
        c.ref.key: "ended" for c in customers.values()
    }
    assert sorted((r["license_arn"], r["quantity"]) for r in admin.ledger()) == billed


def test_what_is_in_flight_when_a_buyer_is_erased_writes_nothing_back(world: LifecycleWorld) -> None:
    admin = world.marketplace.admin
    # Given a buyer with our onboarding form open, and another whose sign-up the seller's back end has exchanged
    form = completion(register(admin.subscribe(ONBOARDING, BUYER)["registration_token"]))
    claims = exchanged(world, register(admin.subscribe(SIGNUP, BUYER)["registration_token"]))
    # When the operator erases the buyer before either is sent
    status, _, err = forget(world, BUYER)
    assert status == 0, err
    # Then the form, submitted after, stores nothing: the erasure wins
    late = post("/register/complete", {"registration": form, "contact_name": NAME, "email": EMAIL, "company": "X"})
    assert late["statusCode"] == 409, late["body"]
    # and neither does the tenant link
    assert link(world, claims, TENANT)["statusCode"] == 409
    assert world.dynamodb.scan(TableName=world.settings.contacts_table)["Items"] == []
    assert hits(every_table(world)) == dict.fromkeys(PERSONAL, 0)
