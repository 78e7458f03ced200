"""Sum an hour's usage events into one record per (product, customer, dimension): deterministic for a closed hour."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from functions.customers.model import Customer
from functions.flush.calls import allocation_bytes
from functions.flush.records import MeteringRecord
from functions.settings import Product
from functions.usage.model import HOUR, MAX_DECIMAL_QUANTITY, MAX_INTEGER_QUANTITY, Allocation, UsageEvent


@dataclass
class _Total:
    """One record's total while an hour's events are summed, with its usage per tag set."""

    first: UsageEvent
    quantity: Decimal = Decimal(0)
    events: int = 0
    by_tags: dict[tuple[tuple[str, str], ...], Decimal] = field(default_factory=lambda: defaultdict(Decimal))


# Marketplace takes at most this many allocations in one usage record (and refuses the whole request beyond)
MAX_ALLOCATIONS_PER_RECORD = 2500
# and a record must fit in one request (1 MB) and in one ledger item (DynamoDB's 400 KB, where its allocations take
# fewer bytes than in the request): its allocations may take this much of the request, the rest of it under 4 KB
MAX_ALLOCATION_BYTES = 380_000


def record_key(product_code: str, customer_key: str, dimension: str) -> str:
    return f"{product_code}#{customer_key}#{dimension}"


def aggregate(hour: datetime, events: Iterable[UsageEvent], products: Iterable[Product]) -> list[MeteringRecord]:
    """One record per (product, customer, dimension) billed in ``hour``; allocations summed per tag set.

    Events without allocations count toward the untagged allocation, so allocations always add up to the total.
    """
    integer = {(p.code, d.name): d.quantity_type == "integer" for p in products for d in p.dimensions}
    totals: dict[str, _Total] = {}
    tagged: set[str] = set()
    for event in events:
        key = record_key(event.product_code, event.customer_key, event.dimension)
        total = totals.setdefault(key, _Total(first=event))
        total.quantity += event.quantity
        total.events += 1
        if event.allocations:
            tagged.add(key)
            for allocation in event.allocations:
                total.by_tags[allocation.tags] += allocation.quantity
        else:
            total.by_tags[()] += event.quantity
    records = []
    for key, total in sorted(totals.items()):
        # the dimension's type as deployed now, unless the total has a fraction: usage accepted as decimal under an
        # earlier configuration (the dimension retyped, its product taken out) is sent as decimal, never rounded down
        # on the wire (attack 35); Marketplace refusing it parks it with its reason
        whole = integer.get((total.first.product_code, total.first.dimension), True) and (
            total.quantity == total.quantity.to_integral_value()
        )
        records.append(
            MeteringRecord(
                key=key,
                hour=hour,
                product_code=total.first.product_code,
                customer_key=total.first.customer_key,
                customer_aws_account_id=total.first.customer_aws_account_id,
                dimension=total.first.dimension,
                quantity=total.quantity,
                integer=whole,
                license_arn=total.first.license_arn,
                customer_identifier=total.first.customer_identifier,
                allocations=allocations_within_limits(total.by_tags, whole) if key in tagged else (),
                events=total.events,
            )
        )
    return records


def allocations_within_limits(
    by_tags: dict[tuple[tuple[str, str], ...], Decimal], integer: bool
) -> tuple[Allocation, ...]:
    """Allocations per tag set, in tag order. Beyond Marketplace's limits (allocations per record, bytes per request)
    the smallest tag sets are counted as untagged usage: the hour is billed in full, and a record over a limit would
    never be accepted."""
    sums = dict(by_tags)
    largest_first = sorted((tags for tags in sums if tags), key=lambda tags: (-sums[tags], tags))
    kept = largest_first[: MAX_ALLOCATIONS_PER_RECORD - 1 if len(sums) > MAX_ALLOCATIONS_PER_RECORD else None]
    size = sum(allocation_bytes(Allocation(tags, sums[tags]), integer) for tags in kept)
    while kept and size > MAX_ALLOCATION_BYTES:
        smallest = kept.pop()
        size -= allocation_bytes(Allocation(smallest, sums[smallest]), integer)
    for tags in largest_first[len(kept) :]:
        sums[()] = sums.get((), Decimal(0)) + sums.pop(tags)
    return tuple(Allocation(tags=tags, quantity=quantity) for tags, quantity in sorted(sums.items()))


def zero_records(
    hour: datetime, metered: Iterable[MeteringRecord], products: Iterable[Product], customers: Iterable[Customer]
) -> list[MeteringRecord]:
    """A zero-quantity record for every meterable customer of a ``zero_usage_records`` product with no use.

    Only customers registered before the hour began: Marketplace refuses usage before a licence starts.
    """
    seen = {r.key for r in metered}
    by_code = {p.code: p for p in products if p.zero_usage_records}
    zeros: list[MeteringRecord] = []
    for customer in customers:
        product = by_code.get(customer.ref.product_code)
        if product is None or not customer.meterable:
            continue
        if customer.registered_at is not None and customer.registered_at > hour:
            continue
        for dimension in product.dimensions:
            key = record_key(product.code, customer.ref.key, dimension.name)
            if key not in seen:
                zeros.append(
                    MeteringRecord(
                        key=key,
                        hour=hour,
                        product_code=product.code,
                        customer_key=customer.ref.key,
                        customer_aws_account_id=customer.customer_aws_account_id,
                        dimension=dimension.name,
                        quantity=Decimal(0),
                        integer=dimension.quantity_type == "integer",
                        license_arn=customer.ref.license_arn,
                        customer_identifier=customer.ref.customer_identifier,
                    )
                )
    return sorted(zeros, key=lambda r: r.key)


def spill(
    hour: datetime, records: Sequence[MeteringRecord], carried: Sequence[MeteringRecord]
) -> tuple[list[MeteringRecord], list[MeteringRecord]]:
    """``hour``'s records with what earlier hours carried into them, each within Marketplace's largest quantity, and
    what they carry into the next hour (records of that hour).

    Marketplace takes one record per (customer, dimension, hour), of at most 2,147,483,647 units (9,999,999,999.999999
    for a decimal dimension), so an hour whose usage exceeds it cannot be billed in one record: the excess is billed
    in the next hours of the same customer and dimension, as untagged usage. Deterministic for the same inputs, so
    the hourly flush and a leaving buyer's final usage compute the same records.
    """
    by_key = {r.key: r for r in records}
    for carry in carried:
        record = by_key.get(carry.key)
        if record is None:
            by_key[carry.key] = replace(carry, hour=hour, events=0)
            continue
        allocations = record.allocations
        if allocations:
            by_tags = {a.tags: a.quantity for a in allocations}
            by_tags[()] = by_tags.get((), Decimal(0)) + carry.quantity
            # within Marketplace's limits again: a record of 2,500 tag sets and no untagged usage gains a 2,501st
            # allocation here, which Marketplace refuses with the whole record (review 27)
            allocations = allocations_within_limits(by_tags, record.integer)
        by_key[carry.key] = replace(record, quantity=record.quantity + carry.quantity, allocations=allocations)
    billed: list[MeteringRecord] = []
    carry_out: list[MeteringRecord] = []
    for key in sorted(by_key):
        record = by_key[key]
        cap = Decimal(MAX_INTEGER_QUANTITY) if record.integer else MAX_DECIMAL_QUANTITY
        if record.quantity <= cap:
            billed.append(record)
            continue
        excess = record.quantity - cap
        billed.append(replace(record, quantity=cap, allocations=_without(record.allocations, excess)))
        carry_out.append(replace(record, hour=hour + HOUR, quantity=excess, allocations=(), events=0))
    return billed, carry_out


def _without(allocations: tuple[Allocation, ...], amount: Decimal) -> tuple[Allocation, ...]:
    """``allocations`` less ``amount`` units: from the untagged usage first, then from the smallest tag sets."""
    left = amount
    kept: list[Allocation] = []
    for allocation in sorted(allocations, key=lambda a: (bool(a.tags), a.quantity, a.tags)):
        taken = min(left, allocation.quantity)
        left -= taken
        if allocation.quantity > taken:
            kept.append(Allocation(allocation.tags, allocation.quantity - taken))
    return tuple(sorted(kept, key=lambda a: a.tags))
