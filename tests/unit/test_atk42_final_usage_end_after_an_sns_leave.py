"""Attack 42 (on 0346554, ``_legacy_leaves``: "a leave is every unsubscribe-pending, and an ended only when no pending
precedes it"). *Any* pending before it, of whichever subscription, not one of the leave it closes. An ended with no
pending of its own is what the final-usage step records (``Lifecycle.continue_ending``: ``ENDED`` on the buyer's
legacy identifier, an hour after the ending it saw) for a leave told by EventBridge alone: a legacy-mode listing that
stopped notifying over SNS (``legacy_sns`` set to false, as AWS moves listings to EventBridge) or one whose leave came
as License Deprovisioned / Purchase Agreement Ended only. Once the identifier has one SNS unsubscribe-pending from an
earlier leave, every such ended is dropped, and the leave it recorded is forgotten: a buyer back on a new licence
(registered again: ResolveCustomer's new LicenseArn) reads as subscribed since their previous subscription's SNS
subscribe-success, so usage stamped between their subscriptions is accepted and billed. d21e48b (every end a leave)
read this buyer right; 0346554 regressed it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.subjects import legacy_subject, licence_subject
from functions.customers.subscription import LifecycleKind, LifecycleTimes, buyer_times
from functions.settings import Dimension, Product, Settings
from functions.usage.ingest import UsageRejected, record_usage
from tests.fakes import InMemoryCustomers, InMemoryUsage

IDENTIFIER = "sns-then-eventbridge"
NEW_LICENCE = "arn:aws:license-manager::294406891311:license:l-0002"


def _at(hour: int) -> datetime:
    return datetime(2026, 11, 26, hour, tzinfo=UTC)


# the identifier's own record: over SNS until the listing stopped, then the final-usage step's ended
LEGACY = (
    (LifecycleKind.ACTIVATED, 0),  # subscribe-success
    (LifecycleKind.ENDING, 1),  # unsubscribe-pending
    (LifecycleKind.ENDED, 2),  # unsubscribe-success
    (LifecycleKind.ACTIVATED, 3),  # subscribe-success: back (licence l-0001)
    (LifecycleKind.ENDED, 6),  # the final-usage step: the leave of 05:00 (License Deprovisioned) over
)


def _times(events: tuple[tuple[LifecycleKind, int], ...]) -> LifecycleTimes:
    times = LifecycleTimes()
    for kind, hour in events:
        times = times.merge(kind, _at(hour))
    return times


def test_the_final_usage_steps_end_of_an_eventbridge_leave_is_a_leave() -> None:
    new_licence = _times(((LifecycleKind.ACTIVATED, 8),))  # License Updated: back at 08:00 on a new licence
    times = buyer_times(new_licence, {}, _times(LEGACY))
    assert times.state is SubscriptionState.ACTIVE
    assert times.started == _at(8), "the leave the final-usage step recorded at 06:00 was dropped"


def test_usage_between_their_subscriptions_is_refused() -> None:
    product = Product(code="p", name="P", dimensions=(Dimension("calls"),), customer_mode="legacy", legacy_sns=False)
    settings = Settings(products=(product,))
    fake = InMemoryCustomers()
    ref = CustomerRef("p", customer_identifier=IDENTIFIER)
    for kind, hour in LEGACY:
        fake.lifecycle_store.record(legacy_subject("p", IDENTIFIER), kind, _at(hour))
    for kind, hour in ((LifecycleKind.ACTIVATED, 3), (LifecycleKind.ENDING, 5)):  # License Updated, Deprovisioned
        fake.lifecycle_store.record(licence_subject("l-0001"), kind, _at(hour))
    fake.lifecycle_store.record(licence_subject("l-0002"), LifecycleKind.ACTIVATED, _at(8))
    # registered again at 08:00: ResolveCustomer gave their new licence (they held l-0001 before)
    fake.put(Customer(ref, "111122223333", SubscriptionState.ACTIVE, _at(8), legacy_license_arn=NEW_LICENCE))
    usage = {
        "event_id": "between",
        "product_code": "p",
        "customer_identifier": IDENTIFIER,
        "dimension": "calls",
        "quantity": 9,
        "timestamp": _at(7).isoformat(),  # no subscription then: left at 05:00, back at 08:00
    }
    store = InMemoryUsage()
    refusal = ""
    try:
        record_usage([usage], settings=settings, customers=fake, store=store, clock=ManualClock(_at(9)))
    except UsageRejected as refused:
        refusal = str(refused)
    billed = sum((e.quantity for e in store.events.values()), Decimal(0))
    assert billed == Decimal(0), f"{billed} units stamped between their subscriptions stored to bill"
    assert "before this buyer's subscription started" in refusal
