"""Attack 44 (on b152591, ``_closed_by``: "the pending an unsubscribe-success closes: the latest 30 minutes or more
before it"). Attack 42's buyer again, with their second leave sooner after their first: a legacy buyer who leaves at
10:00, is back at 10:10 and leaves again at 10:25 (all within their first leave's final hour, as simulator seed 189228's
buyer came back). The first leave's unsubscribe-success comes on time, an hour after its pending (11:00, as AWS's SaaS
guide and the simulator send it); the latest pending 30 minutes or more before 11:00 is the second one (10:25), so that
success is taken for the second leave's and the buyer reads ENDED at 11:00, though their final hour runs to their own
success (about 11:25) and their cutoff is 10:25 + 45 minutes = 11:10. Usage of that hour they send between 11:00 and
11:10 is refused "ended": lost revenue of a live subscription. The 30-minute rule only moves attack 42's break: any
second pending within 30 minutes of the first (or a first success late by as much) still pairs the wrong way."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.subjects import legacy_subject
from functions.customers.subscription import LifecycleKind, LifecycleTimes, buyer_times
from functions.settings import Dimension, Product, Settings
from functions.usage.ingest import UsageRejected, record_usage
from tests.fakes import InMemoryCustomers, InMemoryUsage

IDENTIFIER = "gone-back-gone-again"
LEAVES = (
    (LifecycleKind.ACTIVATED, (9, 0)),  # subscribe-success
    (LifecycleKind.ENDING, (10, 0)),  # unsubscribe-pending
    (LifecycleKind.ACTIVATED, (10, 10)),  # subscribe-success: back within that leave's final hour
    (LifecycleKind.ENDING, (10, 25)),  # unsubscribe-pending: leaving again
    (LifecycleKind.ENDED, (11, 0)),  # unsubscribe-success of the leave at 10:00, exactly an hour after its pending
)


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 26, hour, minute, tzinfo=UTC)


def test_the_on_time_success_of_the_first_leave_does_not_end_the_second() -> None:
    times = LifecycleTimes()
    for kind, (hour, minute) in LEAVES:
        times = times.merge(kind, _at(hour, minute))
    derived = buyer_times(None, {}, times)
    assert derived.started == _at(10, 10)
    # leaving since 10:25, their own unsubscribe-success (about 11:25) still to come
    assert derived.state is SubscriptionState.ENDING, f"ended at {derived.changed_at} by the first leave's success"
    assert derived.changed_at == _at(10, 25)


def test_their_final_hour_usage_sent_before_their_cutoff_is_taken() -> None:
    product = Product(code="p", name="P", dimensions=(Dimension("calls"),), customer_mode="legacy", legacy_sns=True)
    settings = Settings(products=(product,))
    assert settings.final_usage_cutoff_seconds == 2700  # their cutoff: 10:25 + 45 minutes = 11:10
    fake = InMemoryCustomers()
    ref = CustomerRef("p", customer_identifier=IDENTIFIER)
    fake.put(Customer(ref, "111122223333", SubscriptionState.ACTIVE, _at(9)))
    for kind, (hour, minute) in LEAVES:
        fake.lifecycle_store.record(legacy_subject("p", IDENTIFIER), kind, _at(hour, minute))
    usage = {
        "event_id": "final-minutes",
        "product_code": "p",
        "customer_identifier": IDENTIFIER,
        "dimension": "calls",
        "quantity": 6,
        "timestamp": _at(11, 2).isoformat(),
    }
    store = InMemoryUsage()
    try:
        result = record_usage([usage], settings=settings, customers=fake, store=store, clock=ManualClock(_at(11, 5)))
    except UsageRejected as refusal:
        pytest.fail(f"usage of their final hour, before their cutoff, refused: {refusal}")
    assert result.accepted == ("final-minutes",)
    assert sum((e.quantity for e in store.events.values()), Decimal(0)) == Decimal(6)
