"""Attack 46 (on cfe4acd, ``_closes_a_left_agreement`` beside ``buyer_times``' close by a later Deprovisioned). Attack
44's buyer, in the seller guide's order: agmt-1's Purchase Agreement Ended opens a final hour at 10:00 and its License
Deprovisioned (naming agmt-1) closes it at 11:00; the buyer came back on the same licence at 10:30 (agmt-2). Here they
leave agmt-2 at 10:50 (its Ended), before agmt-1's Deprovisioned: agmt-2's final hour runs to about 11:50 (its own
Deprovisioned) and their cutoff is 11:35. f0fea20/cfe4acd state that agmt-1's Deprovisioned "is the left agreement's
close, not a leave ... then or when they leave the new agreement too": ``_closes_a_left_agreement`` says so and keeps it
from opening an hour, yet ``buyer_times`` still closes the *current* leave with it ("a Deprovisioned after the Ended
that opened it": 11:00 after agmt-2's 10:50). The buyer reads ENDED at 11:00, 35 minutes before their cutoff, while
Marketplace still takes their records: usage of 11:00 to 11:35 is refused "ended" (lost revenue), and the final-usage
step, told they ended, sets the cutoff to now and sends at once. agmt-2's Deprovisioned at 11:50 moves the end to
11:50, but the refusals and the early cutoff stand (invariant 1: an earlier subscription's event ended them)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.subjects import agreement_subject, licence_subject
from functions.customers.subscription import LifecycleKind, buyer_times
from functions.settings import Dimension, Product, Settings
from functions.usage.ingest import UsageRejected, record_usage
from tests.fakes import InMemoryCustomers, InMemoryUsage
from tests.unit.lifecycle_events import at, times_of

LICENCE_ARN = "arn:aws:license-manager::294406891311:license:l-0001"


LICENCE = (
    (LifecycleKind.ACTIVATED, at(9)),  # License Updated as they subscribe (agmt-1)
    (LifecycleKind.ACTIVATED, at(10, 30)),  # License Updated: back, on agmt-2
    (LifecycleKind.ENDING, at(11)),  # License Deprovisioned naming agmt-1: agmt-1's final hour over
)
FIRST = ((LifecycleKind.ACTIVATED, at(9)), (LifecycleKind.ENDING, at(10)))  # Created, Ended
SECOND = ((LifecycleKind.ACTIVATED, at(10, 30)), (LifecycleKind.ENDING, at(10, 50)))  # Created, Ended: leaving


def test_the_left_agreements_close_does_not_close_the_next_leave() -> None:
    times = buyer_times(times_of(*LICENCE), {"agmt-1": times_of(*FIRST), "agmt-2": times_of(*SECOND)}, None)
    # leaving since agmt-2's Ended; agmt-2's own Deprovisioned (about 11:50) still to come
    assert times.state is SubscriptionState.ENDING, f"{times.state} since {times.changed_at}"
    assert times.changed_at == at(10, 50)


def test_their_final_hour_usage_before_their_cutoff_is_taken() -> None:
    product = Product(code="p", name="P", dimensions=(Dimension("calls"),))
    settings = Settings(products=(product,))
    assert settings.final_usage_cutoff_seconds == 2700  # their cutoff: 10:50 + 45 minutes
    fake = InMemoryCustomers()
    ref = CustomerRef("p", license_arn=LICENCE_ARN)
    fake.put(Customer(ref, "111122223333", SubscriptionState.ACTIVE, at(9), agreement_id="agmt-1"))
    events, lic = fake.lifecycle_store, licence_subject("l-0001")
    events.link(lic, "agmt-1")
    events.link(lic, "agmt-2")
    for kind, moment in LICENCE:
        events.record(lic, kind, moment)
    for kind, moment in FIRST:
        events.record(agreement_subject("agmt-1"), kind, moment)
    for kind, moment in SECOND:
        events.record(agreement_subject("agmt-2"), kind, moment)
    usage = {
        "event_id": "final-hour",
        "product_code": "p",
        "license_arn": LICENCE_ARN,
        "customer_aws_account_id": "111122223333",
        "dimension": "calls",
        "quantity": 7,
        "timestamp": at(11, 5).isoformat(),
    }
    store = InMemoryUsage()
    try:
        result = record_usage([usage], settings=settings, customers=fake, store=store, clock=ManualClock(at(11, 6)))
    except UsageRejected as refusal:
        pytest.fail(f"usage of their final hour, before their cutoff, refused: {refusal}")
    assert result.accepted == ("final-hour",)
    assert sum((e.quantity for e in store.events.values()), Decimal(0)) == Decimal(7)
