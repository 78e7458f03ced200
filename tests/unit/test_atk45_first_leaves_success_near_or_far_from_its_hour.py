"""The other reading of attack 45's messages, and what its fix costs there. A legacy buyer leaves at 10:00, is back at
10:10 and leaves again at 10:25 (attack 44's buyer); the first leave's unsubscribe-success comes "about an hour" after
its pending, as AWS promises it, never exactly (each message is stamped to the millisecond: attack 72). Within
``ABOUT_AN_HOUR`` of that hour it is that leave's close, and the buyer reads ``ending`` until their own success.
Further from it (here 11:15, 75 minutes on) it reads as attack 45's: the second leave's quick success, the first's lost.
Nothing tells the two apart there, so it ends them at once, 10 minutes before their cutoff (10:25 + 45 minutes): their
usage of those minutes is refused (4xx), lost revenue but never answered 200 and then left unbilled, and their own
success, when it comes, reopens nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.subjects import legacy_subject
from functions.customers.subscription import LifecycleKind, LifecycleTimes, buyer_times
from functions.settings import Dimension, Product, Settings
from functions.usage.ingest import UsageRejected, record_usage
from tests.fakes import InMemoryCustomers, InMemoryUsage

IDENTIFIER = "back-and-gone-off-the-hour"
LEAVES = (
    (LifecycleKind.ACTIVATED, (9, 0)),  # subscribe-success
    (LifecycleKind.ENDING, (10, 0)),  # unsubscribe-pending
    (LifecycleKind.ACTIVATED, (10, 10)),  # subscribe-success: back within that leave's final hour
    (LifecycleKind.ENDING, (10, 25)),  # unsubscribe-pending: leaving again
)
NEAR = (LifecycleKind.ENDED, (11, 2))  # the leave at 10:00's success, 62 minutes on: within ABOUT_AN_HOUR of its hour
FAR = (LifecycleKind.ENDED, (11, 15))  # 75 minutes on: beyond it


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 26, hour, minute, tzinfo=UTC)


def _times(*events: tuple[LifecycleKind, tuple[int, int]]) -> LifecycleTimes:
    times = LifecycleTimes()
    for kind, (hour, minute) in events:
        times = times.merge(kind, _at(hour, minute))
    return times


def test_a_success_near_the_first_leaves_hour_is_its_close_and_they_stay_ending_until_their_own() -> None:
    derived = buyer_times(None, {}, _times(*LEAVES, NEAR))
    assert derived.started == _at(10, 10)
    assert (derived.state, derived.changed_at) == (SubscriptionState.ENDING, _at(10, 25))
    for own in ((11, 25), (11, 31)):  # their own success, an hour after their pending or not
        both = buyer_times(None, {}, _times(*LEAVES, NEAR, (LifecycleKind.ENDED, own)))
        assert (both.state, both.changed_at) == (SubscriptionState.ENDED, _at(*own))


def test_a_success_far_from_it_ends_them_and_their_own_reopens_nothing() -> None:
    derived = buyer_times(None, {}, _times(*LEAVES, FAR))
    assert derived.started == _at(10, 10)
    assert (derived.state, derived.changed_at) == (SubscriptionState.ENDED, _at(11, 15))
    for own in ((11, 25), (11, 31)):
        both = buyer_times(None, {}, _times(*LEAVES, FAR, (LifecycleKind.ENDED, own)))
        assert both.state is SubscriptionState.ENDED, f"{both.state} since {both.changed_at} once {own} came"


def test_their_usage_after_the_far_success_is_refused_not_taken_unbilled() -> None:
    product = Product(code="p", name="P", dimensions=(Dimension("calls"),), customer_mode="legacy", legacy_sns=True)
    settings = Settings(products=(product,))
    fake = InMemoryCustomers()
    ref = CustomerRef("p", customer_identifier=IDENTIFIER)
    fake.put(Customer(ref, "111122223333", SubscriptionState.ACTIVE, _at(9)))
    for kind, (hour, minute) in (*LEAVES, FAR):
        fake.lifecycle_store.record(legacy_subject("p", IDENTIFIER), kind, _at(hour, minute))
    usage = {
        "event_id": "after-the-far-success",
        "product_code": "p",
        "customer_identifier": IDENTIFIER,
        "dimension": "calls",
        "quantity": 6,
        "timestamp": _at(11, 16).isoformat(),
    }
    store = InMemoryUsage()
    refusal = ""
    try:
        record_usage([usage], settings=settings, customers=fake, store=store, clock=ManualClock(_at(11, 17)))
    except UsageRejected as refused:
        refusal = str(refused)
    assert sum((e.quantity for e in store.events.values()), Decimal(0)) == Decimal(0)
    assert "ended" in refusal
