"""A subject's lifecycle times from the events it saw, merged as the lifecycle stores merge them: the lifecycle
attack tests' shared vocabulary."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.subjects import legacy_subject
from functions.customers.subscription import LifecycleKind, LifecycleTimes
from functions.settings import Dimension, Product, Settings
from functions.usage.ingest import UsageRejected, record_usage
from tests.fakes import InMemoryCustomers, InMemoryUsage


def at(hour: int, minute: int = 0) -> datetime:
    """A time of the day these tests' buyers come and go (2026-11-26, UTC)."""
    return datetime(2026, 11, 26, hour, minute, tzinfo=UTC)


def times_of(*events: tuple[LifecycleKind, datetime]) -> LifecycleTimes:
    times = LifecycleTimes()
    for kind, moment in events:
        times = times.merge(kind, moment)
    return times


def legacy_usage_answer(
    identifier: str, events: Iterable[tuple[LifecycleKind, datetime]], used_at: datetime, sent_at: datetime
) -> tuple[Decimal, str]:
    """A legacy buyer who saw ``events`` (recorded on their identifier; their customer item reads active from their
    first event) sends 5 calls stamped ``used_at`` at ``sent_at``: the units stored, and the refusal's text ("" if
    none)."""
    product = Product(code="p", name="P", dimensions=(Dimension("calls"),), customer_mode="legacy", legacy_sns=True)
    customers = InMemoryCustomers()
    seen = sorted(events, key=lambda event: event[1])
    customers.put(
        Customer(CustomerRef("p", customer_identifier=identifier), "111122223333", SubscriptionState.ACTIVE, seen[0][1])
    )
    for kind, moment in seen:
        customers.lifecycle_store.record(legacy_subject("p", identifier), kind, moment)
    usage = {
        "event_id": f"used-at-{used_at:%H%M}",
        "product_code": "p",
        "customer_identifier": identifier,
        "dimension": "calls",
        "quantity": 5,
        "timestamp": used_at.isoformat(),
    }
    store = InMemoryUsage()
    refusal = ""
    try:
        record_usage(
            [usage],
            settings=Settings(products=(product,)),
            customers=customers,
            store=store,
            clock=ManualClock(sent_at),
        )
    except UsageRejected as refused:
        refusal = str(refused)
    return sum((e.quantity for e in store.events.values()), Decimal(0)), refusal


def times_at(*events: tuple[LifecycleKind, tuple[int, int]]) -> LifecycleTimes:
    """``times_of`` of events given as (kind, (hour, minute))."""
    return times_of(*((kind, at(*moment)) for kind, moment in events))
