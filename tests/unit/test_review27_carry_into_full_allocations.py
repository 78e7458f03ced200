"""Review 27: what an hour carries into a record of 2,500 tag sets keeps that record within Marketplace's 2,500
allocations (``tests/integration/test_review27_carry_into_full_allocations.py`` bills it against the emulator)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from functions.flush.aggregate import MAX_ALLOCATIONS_PER_RECORD, aggregate, spill
from functions.settings import Dimension, Product
from functions.usage.model import Allocation, UsageEvent

HOUR = datetime(2026, 11, 26, 10, tzinfo=UTC)
PRODUCT = Product(code="p", name="P", dimensions=(Dimension(name="tokens"),))


def _event(index: int) -> UsageEvent:
    tags = (("user", f"u{index:04}"),)
    return UsageEvent(
        event_id=f"e{index}",
        product_code="p",
        customer_key="LICENSE#arn:aws:license-manager::1:license:l-a",
        customer_aws_account_id="111100000001",
        dimension="tokens",
        quantity=Decimal(1),
        timestamp=HOUR + timedelta(minutes=1),
        received_at=HOUR + timedelta(minutes=1),
        license_arn="arn:aws:license-manager::1:license:l-a",
        allocations=(Allocation(tags, Decimal(1)),),
    )


def test_a_carry_into_2500_tag_sets_keeps_2500_allocations_adding_up_to_the_record() -> None:
    (record,) = aggregate(HOUR, [_event(i) for i in range(MAX_ALLOCATIONS_PER_RECORD)], [PRODUCT])
    assert len(record.allocations) == MAX_ALLOCATIONS_PER_RECORD  # every tag set, no untagged usage
    carry = replace(record, hour=HOUR, quantity=Decimal(1_000), allocations=(), events=0)
    (billed,), carried = spill(HOUR, [record], [carry])
    assert carried == []
    assert billed.quantity == Decimal(MAX_ALLOCATIONS_PER_RECORD + 1_000)
    assert len(billed.allocations) == MAX_ALLOCATIONS_PER_RECORD
    assert sum((a.quantity for a in billed.allocations), Decimal(0)) == billed.quantity
    # the smallest tag set is counted as untagged usage with the carry, as sealing does beyond the limit
    untagged = [a for a in billed.allocations if not a.tags]
    assert [a.quantity for a in untagged] == [Decimal(1_001)]
