"""Attack 42 (on 0346554, which keeps every unsubscribe-pending and -success of a legacy identifier apart so that a late
success of an earlier leave no longer moves the start). The state still reads only the latest pending and success
(``_legacy_end``): a success ends the subscription whose pending is the *latest* at or before it. A legacy buyer back
within their first leave's final hour who leaves again before that leave's unsubscribe-success (about an hour after
its pending, AWS's SaaS guide) is ended by it: the success of the leave at 10:00, at 11:00, closes the leave of 10:40,
whose final hour runs to about 11:40 (its own success). Their usage of that hour, sent after 11:00 and before their
cutoff (10:40 + ``final_usage_cutoff_seconds``), is refused "ended", and the final-usage step moves their cutoff to
now. The sets this commit keeps would tell which pending each success closes (the one an hour before it)."""

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

IDENTIFIER = "back-and-gone-again"
LEAVES = (
    (LifecycleKind.ACTIVATED, (9, 0)),  # subscribe-success
    (LifecycleKind.ENDING, (10, 0)),  # unsubscribe-pending
    (LifecycleKind.ACTIVATED, (10, 20)),  # subscribe-success: back within that leave's final hour
    (LifecycleKind.ENDING, (10, 40)),  # unsubscribe-pending: leaving again
    (LifecycleKind.ENDED, (11, 0)),  # unsubscribe-success of the leave at 10:00, an hour after its pending
)


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 26, hour, minute, tzinfo=UTC)


def test_the_success_of_the_first_leave_does_not_end_the_second() -> None:
    times = LifecycleTimes()
    for kind, (hour, minute) in LEAVES:
        times = times.merge(kind, _at(hour, minute))
    derived = buyer_times(None, {}, times)
    # leaving since 10:40, their final hour not over before its own unsubscribe-success
    assert derived.started == _at(10, 20)
    assert derived.state is SubscriptionState.ENDING, f"ended at {derived.changed_at} by the first leave's success"
    assert derived.changed_at == _at(10, 40)


def test_their_final_hour_usage_is_taken_until_their_cutoff() -> None:
    product = Product(code="p", name="P", dimensions=(Dimension("calls"),), customer_mode="legacy", legacy_sns=True)
    settings = Settings(products=(product,))
    assert settings.final_usage_cutoff_seconds == 2700  # their cutoff: 10:40 + 45 minutes = 11:25
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
        "quantity": 4,
        "timestamp": _at(11, 10).isoformat(),
    }
    store = InMemoryUsage()
    try:
        result = record_usage([usage], settings=settings, customers=fake, store=store, clock=ManualClock(_at(11, 15)))
    except UsageRejected as refusal:
        pytest.fail(f"usage of their final hour, before their cutoff, refused: {refusal}")
    assert result.accepted == ("final-minutes",)
    assert sum((e.quantity for e in store.events.values()), Decimal(0)) == Decimal(4)
