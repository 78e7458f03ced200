"""Review 24: an existing (legacy) product's buyer is kept by their customer identifier, and ResolveCustomer also gave
their LicenseArn. Our own events name them by it ("Customer Registered" and "Customer Details Submitted" carry
``license_arn``), and docs/operations.md says the CLI names a buyer by "licence ARN, AWS account id, legacy customer
identifier or our key". Yet ``set-tenant`` and ``forget-customer`` given that licence ARN answer "unknown customer":
the operator who got a data-protection request (or a tenant to link) from the seller's systems, which know the buyer
by what our events said, cannot act on it by that name (``operations.queries.customer_names`` leaves out the legacy
customer's licence)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from functions.seller_events import CUSTOMER_REGISTERED, RecordingPublisher
from functions.settings import Settings, get_settings
from functions.wiring import registration as registration_wiring
from local.marketplace.testing import EmulatorHandle
from tests.integration.registration_world import (
    LEGACY_PRODUCT,
    cli,
    completion_value,
    registration_harness,
)

ACCOUNT = "123412341234"


def test_a_legacy_buyer_is_erased_and_linked_by_the_licence_our_events_name_them_by(
    marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Settings]
) -> None:
    harness = registration_harness(marketplace, dynamodb, handler_environment)
    form = completion_value(
        harness.register(harness.subscribe(LEGACY_PRODUCT, account=ACCOUNT)["registration_token"])["body"]
    )
    assert harness.complete(form, company="Acme", contact_name="Ada", email="ada@example.com")["statusCode"] == 200
    publisher = registration_wiring.build(get_settings()).registrations.publisher
    assert isinstance(publisher, RecordingPublisher)
    registered = next(e.detail for e in publisher.events if e.detail_type == CUSTOMER_REGISTERED)
    licence = str(registered["license_arn"])
    assert licence.startswith("arn:aws:license-manager:")  # what the seller's systems know the buyer by
    assert registered["customer_identifier"]  # kept by this: a legacy product's buyer

    linked = cli(harness, "set-tenant", licence, "acme-42")
    erased = cli(harness, "forget-customer", licence)

    assert linked[0] == 0, linked[2]
    assert erased[0] == 0, erased[2]
    assert harness.items(harness.settings.contacts_table) == []
