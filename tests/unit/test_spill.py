"""An hour over Marketplace's largest record quantity is billed over the next hours of the same customer and
dimension: every unit once, each record within the maximum, allocations always adding up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from functions.flush.aggregate import spill
from functions.flush.records import MeteringRecord
from functions.usage.model import MAX_DECIMAL_QUANTITY, MAX_INTEGER_QUANTITY, Allocation

HOUR = datetime(2026, 11, 26, 10, tzinfo=UTC)
MAX = Decimal(MAX_INTEGER_QUANTITY)


def record(hour: datetime, quantity: Decimal, *, integer: bool = True, tagged: bool = False) -> MeteringRecord:
    allocations: tuple[Allocation, ...] = ()
    if tagged and quantity >= 2:
        half = (quantity / 2).to_integral_value() if integer else quantity / 2
        allocations = (Allocation((("team", "a"),), half), Allocation((("team", "b"),), quantity - half))
    elif tagged and quantity:
        allocations = (Allocation((("team", "a"),), quantity),)
    return MeteringRecord(
        key="p#LICENSE#l-1#d",
        hour=hour,
        product_code="p",
        customer_key="LICENSE#l-1",
        customer_aws_account_id="111122223333",
        dimension="d",
        quantity=quantity,
        integer=integer,
        license_arn="arn:aws:license-manager::294406891311:license:l-1",
        allocations=allocations,
    )


def test_two_full_events_in_one_hour_are_billed_in_that_hour_and_the_next() -> None:
    first, carry = spill(HOUR, [record(HOUR, 2 * MAX)], [])
    assert [r.quantity for r in first] == [MAX]
    assert [(c.hour, c.quantity) for c in carry] == [(HOUR + timedelta(hours=1), MAX)]
    second, carry = spill(HOUR + timedelta(hours=1), [], carry)
    assert [(r.hour, r.quantity) for r in second] == [(HOUR + timedelta(hours=1), MAX)]
    assert carry == []


hours = st.lists(
    st.tuples(st.integers(min_value=0, max_value=3 * MAX_INTEGER_QUANTITY), st.booleans()), min_size=1, max_size=8
)


@given(hours=hours)
def test_every_unit_is_billed_once_within_the_maximum_with_allocations_adding_up(hours: list[tuple[int, bool]]) -> None:
    carried: list[MeteringRecord] = []
    billed = Decimal(0)
    for n, (quantity, tagged) in enumerate(hours):
        hour = HOUR + timedelta(hours=n)
        records = [record(hour, Decimal(quantity), tagged=tagged)] if quantity else []
        sealed, carried = spill(hour, records, carried)
        for r in sealed:
            assert r.hour == hour
            assert 0 <= r.quantity <= MAX
            if r.allocations:
                assert sum(a.quantity for a in r.allocations) == r.quantity
                assert all(a.quantity > 0 for a in r.allocations)
            billed += r.quantity
    assert billed + sum(c.quantity for c in carried) == sum(q for q, _ in hours)


def test_a_decimal_dimension_spills_over_its_own_maximum() -> None:
    sealed, carry = spill(HOUR, [record(HOUR, MAX_DECIMAL_QUANTITY + Decimal("0.5"), integer=False)], [])
    assert [r.quantity for r in sealed] == [MAX_DECIMAL_QUANTITY]
    assert [c.quantity for c in carry] == [Decimal("0.5")]
