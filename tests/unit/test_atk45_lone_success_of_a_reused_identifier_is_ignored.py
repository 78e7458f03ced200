"""Attack 45 (on f0fea20, ``_legacy_end``; the rule predates it, but f0fea20 states it: "only a success closing no
pending at all (its own pending lost) ends them"). SNS messages can be lost. A legacy buyer's unsubscribe-pending is
lost and its unsubscribe-success (no more records accepted) comes: a first-time buyer is ended by it (no pending at
all: the success is the end). A buyer whose identifier was used before (subscribed at 00:00, left at 01:00, ended at
02:00, back at 03:00) is not: ``_legacy_end`` looks only at the *latest* pending (01:00, the earlier subscription's),
finds it closed by 02:00 and returns that close, which is older than their return and so dropped; the success at 11:00,
closing no pending, is never looked at. The buyer reads ACTIVE for ever (nothing more comes from Marketplace for this
subscription): usage they send after 11:00 is answered 200, stored and sent in hours Marketplace refuses (never
billed), their hourly records keep being sent, and "Customer Ended" is never published, so the seller never offboards a
buyer who no longer pays. The same events end one buyer and not another, by history that has nothing to do with this
leave (the complaint attack 44 made of the quick success)."""

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

IDENTIFIER = "reused-and-lost"
EARLIER = (
    (LifecycleKind.ACTIVATED, 0),  # subscribe-success
    (LifecycleKind.ENDING, 1),  # unsubscribe-pending
    (LifecycleKind.ENDED, 2),  # unsubscribe-success
)
THIS = (
    (LifecycleKind.ACTIVATED, 3),  # subscribe-success: back on the same identifier
    # unsubscribe-pending at 10:00: lost by SNS
    (LifecycleKind.ENDED, 11),  # unsubscribe-success: no more records accepted
)


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 26, hour, minute, tzinfo=UTC)


def _times(*events: tuple[LifecycleKind, int]) -> LifecycleTimes:
    times = LifecycleTimes()
    for kind, hour in events:
        times = times.merge(kind, _at(hour))
    return times


def test_their_unsubscribe_success_ends_them_whatever_their_identifiers_history() -> None:
    first_time = buyer_times(None, {}, _times(*THIS))
    assert first_time.state is SubscriptionState.ENDED  # ended by it
    again = buyer_times(None, {}, _times(*EARLIER, *THIS))
    assert again.started == _at(3)
    assert again.state is SubscriptionState.ENDED, f"{again.state} since {again.changed_at}: the success was ignored"
    assert again.changed_at == _at(11)


def test_usage_sent_after_their_unsubscribe_success_is_refused() -> None:
    product = Product(code="p", name="P", dimensions=(Dimension("calls"),), customer_mode="legacy", legacy_sns=True)
    settings = Settings(products=(product,))
    fake = InMemoryCustomers()
    ref = CustomerRef("p", customer_identifier=IDENTIFIER)
    fake.put(Customer(ref, "111122223333", SubscriptionState.ACTIVE, _at(3)))
    for kind, hour in (*EARLIER, *THIS):
        fake.lifecycle_store.record(legacy_subject("p", IDENTIFIER), kind, _at(hour))
    usage = {
        "event_id": "after-the-end",
        "product_code": "p",
        "customer_identifier": IDENTIFIER,
        "dimension": "calls",
        "quantity": 12,
        "timestamp": _at(13).isoformat(),
    }
    store = InMemoryUsage()
    refusal = ""
    try:
        record_usage([usage], settings=settings, customers=fake, store=store, clock=ManualClock(_at(13, 5)))
    except UsageRejected as refused:
        refusal = str(refused)
    stored = sum((e.quantity for e in store.events.values()), Decimal(0))
    assert stored == Decimal(0), f"{stored} units accepted two hours after Marketplace stopped taking their records"
    assert "ended" in refusal
