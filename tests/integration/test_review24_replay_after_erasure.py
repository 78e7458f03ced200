"""Review 24: an erasure spends every single-use value of the buyer, yet the same registration POST replayed
within the idempotency window (a reload, the Back button, anyone holding the token) mints a fresh sign-up value that
the seller's back end exchanges and links: the erased tenant id (which may be an e-mail address) is written back.

docs/operations.md: "The erasure wins over anything in flight ... neither a late exchange nor a late link writes
anything back. A later registration of the buyer (a new "Set up your account") is a new form." A replay is no new
registration: its onboarding form stays spent (409), but its sign-up value does not."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from functions.registration import signing
from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from tests.integration.registration_world import (
    LICENSE_PRODUCT,
    REDIRECT_PRODUCT,
    SECRET,
    cli,
    completion_value,
    exchange,
    post_link,
    registration_harness,
    seller_signup,
    signup_value,
)

TENANT = "ada.lovelace@example.com"  # a tenant id may be an e-mail address: personal data the erasure removes
ACCOUNT = "444455556666"


def test_a_registration_replayed_after_an_erasure_writes_no_tenant_id_back(
    marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Settings]
) -> None:
    harness = registration_harness(marketplace, dynamodb, handler_environment)
    token = harness.subscribe(REDIRECT_PRODUCT, account=ACCOUNT)["registration_token"]
    # the buyer registers, the seller's page links them to its tenant
    claims = seller_signup(harness, harness.register(token))
    assert post_link(harness, signing.tenant_link(claims, TENANT, SECRET))["statusCode"] == 200
    # the buyer asks to be forgotten
    status, out, _ = cli(harness, "forget-customer", ACCOUNT)
    assert status == 0
    assert "tenant_id" in out
    assert TENANT not in cli(harness, "customers", "--tenant", TENANT)[1]

    # the same registration POST again, within a day (the browser's Back/reload, or whoever holds the token)
    replay = harness.register(token)
    assert replay["statusCode"] == 303  # a fresh sign-up value, though the erasure spent the buyer's last one
    answer = exchange(harness, signup_value(replay))
    linked = None
    if answer["statusCode"] == 200:
        again = json.loads(answer["body"])["customer"]
        linked = post_link(harness, signing.tenant_link(again, TENANT, SECRET))["statusCode"]

    # the erasure must win: the replayed value is worth nothing, and no tenant id comes back
    assert answer["statusCode"] == 409, (answer["statusCode"], linked)
    assert TENANT not in cli(harness, "customers", "--tenant", TENANT)[1]


def test_a_replayed_onboarding_form_after_an_erasure_is_spent_for_comparison(
    marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Settings]
) -> None:
    """What holds today for the onboarding form (the same replay, without a sign-up page): its value stays spent."""
    harness = registration_harness(marketplace, dynamodb, handler_environment)
    token = harness.subscribe(LICENSE_PRODUCT, account=ACCOUNT)["registration_token"]
    form = completion_value(harness.register(token)["body"])
    assert harness.complete(form, company="Acme", contact_name="Ada", email="ada@example.com")["statusCode"] == 200
    assert cli(harness, "forget-customer", ACCOUNT)[0] == 0
    replayed_form = completion_value(harness.register(token)["body"])
    refused = harness.complete(replayed_form, company="Acme", contact_name="Ada", email="ada@example.com")
    assert refused["statusCode"] == 409
    assert harness.items(harness.settings.contacts_table) == []
