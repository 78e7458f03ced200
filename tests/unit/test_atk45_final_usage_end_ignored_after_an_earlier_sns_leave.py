"""Attack 45 (on f0fea20, ``_legacy_end``; the rule predates it). The final-usage step ends a leaving buyer by recording
ENDED on their primary subject (their legacy identifier) an hour after their final hour opened, so that "nobody stays
``ending``" (docs/metering.md, rule 5). Attack 42's buyer: a legacy listing whose identifier left once over SNS
(subscribe-success 00:00, unsubscribe-pending 01:00, unsubscribe-success 02:00), back at 03:00, then leaving with
License Deprovisioned at 05:00 only (the listing moved to EventBridge, ``legacy_sns`` off). The step records ENDED at
06:00 on the identifier, but ``_legacy_end`` reads only the identifier's *latest* pending (01:00, the earlier
subscription's), returns its close (02:00), older than their return and so dropped; the 06:00 end is never looked at.
The buyer stays ENDING for ever (invariant 3): no timer is left to end them, "Customer Ended" is never published, so
the seller never offboards a buyer Marketplace no longer bills."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.subjects import legacy_subject, licence_subject
from functions.customers.subscription import LifecycleKind
from functions.lifecycle.service import CUSTOMER_ENDED, Lifecycle
from functions.seller_events import RecordingPublisher
from functions.settings import Dimension, Product, Settings
from tests.fakes import FakeAgreementEntitlements, InMemoryCustomers, InMemoryLifecycleStore, Timers

IDENTIFIER = "sns-then-eventbridge"
LICENCE = "arn:aws:license-manager::294406891311:license:l-0001"
PRODUCT = Product(code="p", name="P", dimensions=(Dimension("calls"),), customer_mode="legacy", legacy_sns=False)


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 26, hour, minute, tzinfo=UTC)


class NoEntitlements:
    def current(self, customer: Customer) -> tuple[dict[str, object], ...]:
        return ()


def test_the_final_usage_steps_end_ends_them() -> None:
    clock = ManualClock(_at(5, 10))
    customers = InMemoryCustomers(InMemoryLifecycleStore())
    publisher = RecordingPublisher()
    timers = Timers()
    lifecycle = Lifecycle(
        settings=Settings(products=(PRODUCT,)),
        events=customers.lifecycle_store,
        customers=customers,
        entitlements=NoEntitlements(),
        publisher=publisher,
        final_usage=timers,
        clock=clock,
        agreement_entitlements=FakeAgreementEntitlements(),
    )
    ref = CustomerRef("p", customer_identifier=IDENTIFIER)
    customers.put(Customer(ref, "111122223333", SubscriptionState.ACTIVE, _at(3), legacy_license_arn=LICENCE))
    store = customers.lifecycle_store
    for kind, hour in (
        (LifecycleKind.ACTIVATED, 0),  # subscribe-success
        (LifecycleKind.ENDING, 1),  # unsubscribe-pending
        (LifecycleKind.ENDED, 2),  # unsubscribe-success
        (LifecycleKind.ACTIVATED, 3),  # subscribe-success: back
    ):
        store.record(legacy_subject("p", IDENTIFIER), kind, _at(hour))
    store.record(licence_subject("l-0001"), LifecycleKind.ACTIVATED, _at(3))  # License Updated
    store.record(licence_subject("l-0001"), LifecycleKind.ENDING, _at(5))  # License Deprovisioned: leaving
    customer = customers.get(ref)
    assert customer is not None
    assert customer.state is SubscriptionState.ENDING
    lifecycle.continue_ending(ref, lambda: False)  # 05:10: the timer the Deprovisioned started
    while timers.scheduled:  # the lifecycle queue delivers each delayed message when due
        _, delay = timers.scheduled.pop(0)
        clock.set(clock.now() + timedelta(seconds=delay))
        lifecycle.continue_ending(ref, lambda: False)
    assert clock.now() == _at(6)  # final usage sent after the cutoff (05:45), then the final hour over
    recorded = store.read([legacy_subject("p", IDENTIFIER)])[legacy_subject("p", IDENTIFIER)].times.ended_times
    assert _at(6) in recorded  # the step recorded their end, and left no timer: nothing else will end them
    customer = customers.get(ref)
    assert customer is not None
    assert customer.state is SubscriptionState.ENDED, f"{customer.state} since {customer.state_changed_at}"
    assert CUSTOMER_ENDED in [e.detail_type for e in publisher.events], "Customer Ended never published"
