"""Review 27: usage carried into an hour whose record already holds Marketplace's most allocations (2,500 tag sets)
is added as a 2,501st allocation, untagged; Marketplace refuses the whole record (InvalidUsageAllocationsException)
and the flush parks it: that hour's usage and the carry are never billed.

An hour over one record's maximum (2,147,483,647 units) carries the excess into the next hour of the same customer and
dimension as untagged usage (``functions.flush.aggregate.spill``). Sealing an hour keeps at most 2,500 allocations
(the smallest tag sets counted as untagged beyond that), but an hour of exactly 2,500 tag sets and no untagged usage
keeps all of them, and the carry then adds the untagged one. The simulator draws no allocations at all.

Against DynamoDB Local and the emulator (which validates each record against botocore's model: UsageAllocations
holds 1 to 2,500 allocations), through the usage capability and ``cli flush``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from functions.customers.repository import DynamoCustomerRepository
from functions.settings import Dimension, Product, Settings
from functions.usage.ingest import record_usage
from functions.usage.store import DynamoUsageStore
from local.marketplace.testing import EmulatorHandle
from local.tables import FIXED_DATE_RETENTION
from tests.operator_world import OperatorWorld

START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
PRODUCT = Product(code="tokens-product", name="Tokens", dimensions=(Dimension(name="tokens"),))
ACCOUNT = "270000000001"
TAG_SETS = 2500  # BatchMeterUsage's most allocations in one record (botocore's UsageAllocations: max 2500)


def _record(world: OperatorWorld, events: list[dict[str, Any]]) -> None:
    subscription = world.subscriptions[0]
    for start in range(0, len(events), 100):
        batch = [
            {
                "product_code": PRODUCT.code,
                "license_arn": subscription["license_arn"],
                "customer_aws_account_id": ACCOUNT,
                "dimension": "tokens",
                "timestamp": world.clock.now().isoformat(),
                **event,
            }
            for event in events[start : start + 100]
        ]
        result = record_usage(
            batch,
            settings=world.settings,
            customers=DynamoCustomerRepository(world.dynamodb, world.settings.customers_table),
            store=DynamoUsageStore(
                world.dynamodb,
                world.settings.usage_table,
                shards=world.settings.usage_shards,
                retention=FIXED_DATE_RETENTION,
            ),
            clock=world.clock,
        )
        assert len(result.accepted) == len(batch)


def test_a_carry_into_an_hour_of_2500_tag_sets_is_billed_with_it(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    test_settings = replace(settings, products=(PRODUCT,), usage_shards=2, marketplace_endpoint=marketplace.url)
    world = OperatorWorld.with_buyers(test_settings, marketplace, dynamodb, PRODUCT, (ACCOUNT,), START)
    # 09:00: 4,000,000,000 tokens, over one record's maximum: 1,852,516,353 carried into 10:00
    world.move_to(START + timedelta(minutes=5))
    _record(world, [{"event_id": f"big-{i}", "quantity": 2_000_000_000} for i in range(2)])
    # 10:00: one token for each of 2,500 users, each allocated to its user's tag set
    world.move_to(START + timedelta(hours=1, minutes=5))
    _record(
        world,
        [
            {"event_id": f"user-{i}", "quantity": 1, "allocations": [{"tags": {"user": f"u{i:04}"}, "quantity": 1}]}
            for i in range(TAG_SETS)
        ],
    )
    world.move_to(START + timedelta(hours=2, minutes=10))
    status, out, err = world.cli("flush", "--json")
    assert status == 0, err + out
    status, parked, _ = world.cli("failed", "--json")
    assert "InvalidUsageAllocations" not in parked, parked  # (the version before the fix: the 10:00 record parked)

    billed = {
        r["hour"][:13]: Decimal(str(r["quantity"])) for r in world.marketplace.admin.ledger(product_code=PRODUCT.code)
    }
    used = 2 * 2_000_000_000 + TAG_SETS
    assert sum(billed.values()) == used, billed  # every token billed: 09:00 at the maximum, the rest at 10:00
    assert billed == {"2026-11-26T09": Decimal(2_147_483_647), "2026-11-26T10": Decimal(used - 2_147_483_647)}
