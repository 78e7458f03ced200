"""Aggregation of an hour's events into records, and the rule that sends late usage to a later, open hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from functions.customers.model import IN_FLIGHT_MARGIN
from functions.flush.aggregate import aggregate
from functions.settings import Dimension, Product
from functions.usage.model import Allocation, UsageEvent, late_billing_hour

HOUR = datetime(2026, 11, 26, 9, tzinfo=UTC)
GRACE = timedelta(minutes=5)
PRODUCT = Product(
    code="p", name="P", dimensions=(Dimension(name="calls"), Dimension(name="gb", quantity_type="decimal"))
)


def _event(n: int, quantity: str, *, customer: str = "c1", dimension: str = "calls", **tags: str) -> UsageEvent:
    return UsageEvent(
        event_id=f"e{n}",
        product_code="p",
        customer_key=customer,
        customer_aws_account_id="123456789012",
        dimension=dimension,
        quantity=Decimal(quantity),
        timestamp=HOUR + timedelta(minutes=n),
        received_at=HOUR + timedelta(minutes=n),
        license_arn=f"arn:{customer}",
        allocations=(Allocation(tuple(sorted(tags.items())), Decimal(quantity)),) if tags else (),
    )


def test_one_record_per_customer_and_dimension_with_the_summed_quantity() -> None:
    records = aggregate(
        HOUR,
        [_event(1, "3"), _event(2, "4"), _event(3, "1.5", dimension="gb"), _event(4, "7", customer="c2")],
        [PRODUCT],
    )
    assert [(r.customer_key, r.dimension, r.quantity, r.integer, r.events) for r in records] == [
        ("c1", "calls", Decimal(7), True, 2),
        ("c1", "gb", Decimal("1.5"), False, 1),
        ("c2", "calls", Decimal(7), True, 1),
    ]
    assert all(r.hour == HOUR and r.allocations == () for r in records)


def test_allocations_are_summed_per_tag_set_and_untagged_usage_keeps_the_total_whole() -> None:
    # Given tagged events of two tag sets (one set spelled in another key order) and one untagged event
    events = [
        _event(1, "2", team="a", env="prod"),
        _event(2, "3", env="prod", team="a"),
        _event(3, "5", team="b"),
        _event(4, "1"),
    ]
    # When the hour is aggregated
    (record,) = aggregate(HOUR, events, [PRODUCT])
    # Then each tag set carries its sum, the untagged event its own allocation, and they add up to the quantity
    assert record.quantity == Decimal(11)
    assert {a.tags: a.quantity for a in record.allocations} == {
        (("env", "prod"), ("team", "a")): Decimal(5),
        (("team", "b"),): Decimal(5),
        (): Decimal(1),
    }
    assert sum(a.quantity for a in record.allocations) == record.quantity


def test_aggregation_does_not_depend_on_the_order_events_are_read() -> None:
    events = [_event(n, str(n), customer=f"c{n % 3}", team=f"t{n % 2}") for n in range(1, 12)]
    assert aggregate(HOUR, events, [PRODUCT]) == aggregate(HOUR, list(reversed(events)), [PRODUCT])


@pytest.mark.parametrize(
    ("received", "billed"),
    [
        # inside its own hour, and up to the cutoff (hour end + grace - in-flight margin): its own hour
        (HOUR + timedelta(minutes=30), None),
        (HOUR + timedelta(hours=1) + GRACE - IN_FLIGHT_MARGIN - timedelta(microseconds=1), None),
        # from the cutoff on: the hour that is open when the write lands, never the sealed one
        (HOUR + timedelta(hours=1) + GRACE - IN_FLIGHT_MARGIN, HOUR + timedelta(hours=1)),
        (HOUR + timedelta(hours=1, minutes=59), HOUR + timedelta(hours=2)),
        (HOUR + timedelta(hours=5, minutes=10), HOUR + timedelta(hours=5)),
    ],
)
def test_late_usage_is_billed_in_the_hour_still_open_when_it_lands(received: datetime, billed: datetime | None) -> None:
    assert late_billing_hour(HOUR, received, GRACE) == billed


def test_a_late_billing_hour_is_never_one_the_flush_may_already_have_sealed() -> None:
    # whenever a late event is received, its billing hour closes (end + grace) after the write has landed
    for minutes in range(55, 60 * 26, 7):
        received = HOUR + timedelta(minutes=minutes)
        billed = late_billing_hour(HOUR, received, GRACE)
        if billed is not None:
            assert billed + timedelta(hours=1) + GRACE > received + IN_FLIGHT_MARGIN
