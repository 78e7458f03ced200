"""Attack 46 (on cfe4acd, ``_legacy_end``/``_closes``). One leave, two ends: the final-usage step records ENDED on a
legacy buyer's identifier exactly an hour after their final hour opened (10:00 pending, 11:00 end), and AWS's own
unsubscribe-success for that very pending comes too, "about an hour" after it (AWS promises nothing tighter): here at
11:10, seventy minutes on. ``_closes`` pairs the step's end with the pending first (exactly an hour), so AWS's success,
finding that pending closed, closes none. The buyer re-subscribed on the same identifier at 11:05 (attack 41's buyer,
back soon after a leave; that leave's success, stamped after their return, is that leave's close, docs/metering.md
rule 6). cfe4acd reads an end "closing no pending" after the latest activation as an end of the current subscription
(a success whose pending was lost): AWS's late success of the 10:00 leave ends the subscription begun at 11:05.

Without the step's end (AWS's success at 10:59, before the step's hour is over) the same success pairs with the
pending and the buyer reads ACTIVE: whether a duplicate end of the *earlier* subscription exists decides this one
(invariants 1 and 4). It lasts for ever: nothing more comes for a live subscription. "Customer Ended" is published (the
seller offboards a paying buyer) and every unit of usage they send is refused "ended" while Marketplace still bills
them. Driven through the real Lifecycle service and its timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.subjects import legacy_subject
from functions.customers.subscription import LifecycleKind
from functions.lifecycle.notifications import LifecycleEvent
from functions.lifecycle.service import CUSTOMER_ENDED, Lifecycle
from functions.seller_events import RecordingPublisher
from functions.settings import Dimension, Product, Settings
from functions.usage.ingest import UsageRejected, record_usage
from tests.fakes import FakeAgreementEntitlements, InMemoryCustomers, InMemoryLifecycleStore, InMemoryUsage, Timers

IDENTIFIER = "back-after-the-step"
PRODUCT = Product(code="p", name="P", dimensions=(Dimension("calls"),), customer_mode="legacy", legacy_sns=True)


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 26, hour, minute, tzinfo=UTC)


class NoEntitlements:
    def current(self, customer: Customer) -> tuple[dict[str, object], ...]:
        return ()


def _sns(action: str, kind: LifecycleKind, at: datetime) -> LifecycleEvent:
    return LifecycleEvent(
        event_id=f"{action}-{at.isoformat()}",
        name=action,
        occurred_at=at,
        kind=kind,
        subject=legacy_subject("p", IDENTIFIER),
        product_code="p",
        customer_identifier=IDENTIFIER,
    )


def test_the_earlier_leaves_late_success_does_not_end_their_return() -> None:
    clock = ManualClock(_at(9))
    customers = InMemoryCustomers(InMemoryLifecycleStore())
    publisher = RecordingPublisher()
    timers = Timers()
    settings = Settings(products=(PRODUCT,))
    lifecycle = Lifecycle(
        settings=settings,
        events=customers.lifecycle_store,
        customers=customers,
        entitlements=NoEntitlements(),
        publisher=publisher,
        final_usage=timers,
        clock=clock,
        agreement_entitlements=FakeAgreementEntitlements(),
    )
    ref = CustomerRef("p", customer_identifier=IDENTIFIER)
    customers.put(Customer(ref, "111122223333", SubscriptionState.ACTIVE, _at(9)))
    lifecycle.handle(_sns("subscribe-success", LifecycleKind.ACTIVATED, _at(9)))
    clock.set(_at(10))
    lifecycle.handle(_sns("unsubscribe-pending", LifecycleKind.ENDING, _at(10)))
    while timers.scheduled:  # the lifecycle queue delivers each delayed message when due
        _, delay = timers.scheduled.pop(0)
        clock.set(clock.now() + timedelta(seconds=delay))
        lifecycle.continue_ending(ref, lambda: False)
    assert clock.now() == _at(11)  # the step recorded the final hour over: ENDED at 11:00
    customer = customers.get(ref)
    assert customer is not None
    assert customer.state is SubscriptionState.ENDED
    clock.set(_at(11, 5))
    lifecycle.handle(_sns("subscribe-success", LifecycleKind.ACTIVATED, _at(11, 5)))  # back on the same identifier
    customer = customers.get(ref)
    assert customer is not None
    assert customer.state is SubscriptionState.ACTIVE
    ended_before = [e for e in publisher.events if e.detail_type == CUSTOMER_ENDED]
    clock.set(_at(11, 10))
    # AWS's unsubscribe-success of the 10:00 leave, seventy minutes after its pending
    lifecycle.handle(_sns("unsubscribe-success", LifecycleKind.ENDED, _at(11, 10)))
    customer = customers.get(ref)
    assert customer is not None
    assert customer.state is SubscriptionState.ACTIVE, f"{customer.state} since {customer.state_changed_at}"
    ended_after = [e for e in publisher.events if e.detail_type == CUSTOMER_ENDED]
    assert ended_after == ended_before, "Customer Ended published for a buyer Marketplace still bills"

    usage = {
        "event_id": "after-their-return",
        "product_code": "p",
        "customer_identifier": IDENTIFIER,
        "dimension": "calls",
        "quantity": 9,
        "timestamp": _at(11, 20).isoformat(),
    }
    store = InMemoryUsage()
    try:
        record_usage([usage], settings=settings, customers=customers, store=store, clock=ManualClock(_at(11, 25)))
    except UsageRejected as refusal:
        pytest.fail(f"usage of their new subscription refused: {refusal}")
    assert sum((e.quantity for e in store.events.values()), Decimal(0)) == Decimal(9)
