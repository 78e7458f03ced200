"""Attack 41 (on d21e48b, ``_started``: "the first activation after the buyer's last end before the latest
activation"). A legacy buyer's earlier leave's unsubscribe-success comes about an hour after its pending; a buyer back
within that hour (simulator seed 189228's buyer) has that success stamped after their new subscription began. It is
an end of the earlier subscription, yet ``_started`` counts it as an end before any later activation of the current
one: a legacy buyer also has a licence (ResolveCustomer's LicenseArn, ``legacy_license_arn``) whose License Updated
events (an upgrade, an amendment) are activations. After one, their subscription seems to start at it: usage they
send for the hours since their return is refused "before this buyer's subscription started: it is not theirs", and
the final-usage step places their last hour's carry only into hours from the upgrade. (The code before d21e48b read
the same: the latest ended was that success too; the rule, not the set, is what breaks.)"""

from __future__ import annotations

from decimal import Decimal

import pytest

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.subjects import legacy_subject, licence_subject
from functions.customers.subscription import LifecycleKind, buyer_times
from functions.settings import Dimension, Product, Settings
from functions.usage.ingest import UsageRejected, record_usage
from tests.fakes import InMemoryCustomers, InMemoryUsage
from tests.unit.lifecycle_events import at, times_of


def test_a_late_unsubscribe_success_of_an_earlier_leave_does_not_move_the_start_past_an_upgrade() -> None:
    # Given a legacy buyer subscribed at 09, leaving at 10, back at 10:30, within their first leave's final hour
    legacy = times_of(
        (LifecycleKind.ACTIVATED, at(9)),  # subscribe-success
        (LifecycleKind.ENDING, at(10)),  # unsubscribe-pending
        (LifecycleKind.ACTIVATED, at(10, 30)),  # subscribe-success: back
        (LifecycleKind.ENDED, at(11)),  # unsubscribe-success of the leave at 10, an hour after its pending
    )
    licence = times_of(
        (LifecycleKind.ACTIVATED, at(9)),  # License Updated as they subscribed
        (LifecycleKind.ENDING, at(10)),  # License Deprovisioned as they left
        (LifecycleKind.ACTIVATED, at(10, 30)),  # License Updated as they came back
    )
    assert buyer_times(licence, {}, legacy).started == at(10, 30)  # right so far
    # When their licence is updated at 15 (they upgrade)
    upgraded = licence.merge(LifecycleKind.ACTIVATED, at(15))
    # Then they are still subscribed since 10:30, not since the upgrade
    times = buyer_times(upgraded, {}, legacy)
    assert times.state is SubscriptionState.ACTIVE
    assert times.started == at(10, 30), "the earlier leave's late success counted as an end of this subscription"


def test_their_usage_since_they_came_back_is_taken_after_the_upgrade() -> None:
    # Given that buyer, registered for a legacy product (customer identifier, and the licence ResolveCustomer gave)
    product = Product(code="p", name="P", dimensions=(Dimension("calls"),), customer_mode="legacy", legacy_sns=True)
    settings = Settings(products=(product,))
    licence_arn = "arn:aws:license-manager::294406891311:license:l-0001"
    fake = InMemoryCustomers()
    ref = CustomerRef("p", customer_identifier="back-within-the-hour")
    fake.put(Customer(ref, "111122223333", SubscriptionState.ACTIVE, at(9), legacy_license_arn=licence_arn))
    events = fake.lifecycle_store
    for kind, moment in ((LifecycleKind.ACTIVATED, at(9)), (LifecycleKind.ENDING, at(10))):
        events.record(legacy_subject("p", "back-within-the-hour"), kind, moment)
        events.record(licence_subject("l-0001"), kind, moment)
    events.record(legacy_subject("p", "back-within-the-hour"), LifecycleKind.ACTIVATED, at(10, 30))
    events.record(licence_subject("l-0001"), LifecycleKind.ACTIVATED, at(10, 30))
    events.record(legacy_subject("p", "back-within-the-hour"), LifecycleKind.ENDED, at(11))
    events.record(licence_subject("l-0001"), LifecycleKind.ACTIVATED, at(15))  # the upgrade
    # When they send their usage of 14:00, at 15:30 (within Marketplace's window, their subscription live)
    usage = {
        "event_id": "u14",
        "product_code": "p",
        "customer_identifier": "back-within-the-hour",
        "dimension": "calls",
        "quantity": 5,
        "timestamp": at(14).isoformat(),
    }
    store = InMemoryUsage()
    try:
        result = record_usage([usage], settings=settings, customers=fake, store=store, clock=ManualClock(at(15, 30)))
    except UsageRejected as refusal:
        pytest.fail(f"usage of their live subscription refused: {refusal}")
    # Then it is accepted, 5 units to bill
    assert result.accepted == ("u14",)
    assert sum(e.quantity for e in store.events.values()) == Decimal(5)
