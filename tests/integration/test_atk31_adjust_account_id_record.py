"""Attack review 31, against DynamoDB Local and the emulator: an existing (legacy) product's buyer billed by a record
that names them by ``CustomerAWSAccountId`` (with the call's ProductCode: the form AWS asks for since it scheduled
``CustomerIdentifier`` for deprecation; the emulator takes it) is over-billing ``cli adjust`` never sees. Our CloudTrail
reader cannot read a record naming neither a licence nor an identifier, so it is "unreadable": ``cli reconcile`` says
so and exits 1, but ``cli adjust --send`` says "nothing over-billed in these hours" and exits 0 (invariant 4: an hour
that cannot be refunded is named with why). At stake: the whole record, here 1,200 units nobody used at 0.01, 12.00 on
the buyer's invoice, in eu-west-1 or the main Region alike."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from functions.settings import Dimension, Product, Settings
from local.marketplace.testing import EmulatorHandle
from tests.integration.test_adjust import START, Refunds

LEGACY = Product(
    code="adjust-legacy",
    name="Adjust legacy",
    dimensions=(Dimension(name="api_calls", price="0.01"),),
    customer_mode="legacy",
)
ACCOUNT = "300000000009"


def test_a_legacy_buyer_over_billed_by_account_id_is_named_by_adjust(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    test_settings = replace(settings, products=(LEGACY,), usage_shards=2, marketplace_endpoint=marketplace.url)
    world = Refunds.with_buyers(test_settings, marketplace, dynamodb, LEGACY, (), START)
    subscription = marketplace.admin.subscribe(LEGACY.code, ACCOUNT, start_time="2026-11-25T00:00:00Z")
    assert subscription["customer_identifier"]
    DynamoCustomerRepository(dynamodb, test_settings.customers_table).put(
        Customer(
            ref=CustomerRef(LEGACY.code, customer_identifier=subscription["customer_identifier"]),
            customer_aws_account_id=ACCOUNT,
            state=SubscriptionState.ACTIVE,
            state_changed_at=START - timedelta(days=1),
            registered_at=START - timedelta(days=1),
            agreement_id=subscription["agreement_id"],
        )
    )
    # someone else bills the buyer 1,200 units at 10:05, naming them by their account (no usage of ours there)
    at = START + timedelta(hours=1, minutes=5)
    world.move_to(at)
    record = {"Timestamp": at, "Dimension": "api_calls", "Quantity": 1200, "CustomerAWSAccountId": ACCOUNT}
    answer = world.outsider().batch_meter_usage(ProductCode=LEGACY.code, UsageRecords=[record])
    assert [r["Status"] for r in answer["Results"]] == ["Success"]
    world.move_to(START + timedelta(days=2))

    status, out, _ = world.cli("reconcile", "--from", "2026-11-26T09:00Z", "--to", "2026-11-26T10:00Z", "--json")
    assert (status, len(json.loads(out)["unreadable"])) == (1, 1)  # reconcile says it could not read it
    status, out, err = world.cli("adjust", "--from", "2026-11-26T09:00Z", "--to", "2026-11-26T10:00Z", "--send")
    # adjust must not say all is well: the hour it could not read is named (or refunded), and the run exits 1
    assert (status, "nothing over-billed" in out) == (1, False), out + err
