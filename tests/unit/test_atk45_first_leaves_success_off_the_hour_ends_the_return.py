"""The other reading of attack 45's messages, and what its fix costs there. A legacy buyer leaves at 10:00, is back at
10:10 and leaves again at 10:25 (attack 44's buyer); the first leave's unsubscribe-success comes at 11:02, on time as
AWS promises it ("about an hour") but not exactly an hour after its pending. The same messages are attack 45's when the
first leave's success was lost and this one is the second leave's, 37 minutes after its pending: nothing tells the two
apart. A success after the buyer came back now closes the leave of the subscription they came back to, so it ends them
at 11:02, 8 minutes before their cutoff (10:25 + 45 minutes). Their usage of those minutes is refused (4xx): lost
revenue, but never answered 200 and then left unbilled. Their own success, when it comes, reopens nothing (exactly an
hour after their pending, it is their end: the pairing is right again). A first success exactly an hour after its
pending (as the final-usage step stamps, and the simulator sends) is still that leave's, and the buyer reads
``ending`` until their own (attack 44's tests)."""

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
    (LifecycleKind.ENDED, (11, 2)),  # unsubscribe-success of the leave at 10:00, 62 minutes after its pending
)


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 26, hour, minute, tzinfo=UTC)


def _times(*events: tuple[LifecycleKind, tuple[int, int]]) -> LifecycleTimes:
    times = LifecycleTimes()
    for kind, (hour, minute) in events:
        times = times.merge(kind, _at(hour, minute))
    return times


def test_a_success_after_their_return_ends_them_and_their_own_reopens_nothing() -> None:
    derived = buyer_times(None, {}, _times(*LEAVES))
    assert derived.started == _at(10, 10)
    assert (derived.state, derived.changed_at) == (SubscriptionState.ENDED, _at(11, 2))
    for own in ((11, 25), (11, 31)):  # exactly an hour after their pending (then it is their end), or not
        both = buyer_times(None, {}, _times(*LEAVES, (LifecycleKind.ENDED, own)))
        assert both.state is SubscriptionState.ENDED, f"{both.state} since {both.changed_at} once {own} came"
    on_the_hour = buyer_times(None, {}, _times(*LEAVES, (LifecycleKind.ENDED, (11, 25))))
    assert on_the_hour.changed_at == _at(11, 25)


def test_their_usage_after_it_is_refused_not_taken_unbilled() -> None:
    product = Product(code="p", name="P", dimensions=(Dimension("calls"),), customer_mode="legacy", legacy_sns=True)
    settings = Settings(products=(product,))
    fake = InMemoryCustomers()
    ref = CustomerRef("p", customer_identifier=IDENTIFIER)
    fake.put(Customer(ref, "111122223333", SubscriptionState.ACTIVE, _at(9)))
    for kind, (hour, minute) in LEAVES:
        fake.lifecycle_store.record(legacy_subject("p", IDENTIFIER), kind, _at(hour, minute))
    usage = {
        "event_id": "between-the-two-successes",
        "product_code": "p",
        "customer_identifier": IDENTIFIER,
        "dimension": "calls",
        "quantity": 6,
        "timestamp": _at(11, 4).isoformat(),
    }
    store = InMemoryUsage()
    refusal = ""
    try:
        record_usage([usage], settings=settings, customers=fake, store=store, clock=ManualClock(_at(11, 5)))
    except UsageRejected as refused:
        refusal = str(refused)
    assert sum((e.quantity for e in store.events.values()), Decimal(0)) == Decimal(0)
    assert "ended" in refusal
