"""Attack 44 (on b152591: "a leave of a reused subject is each ending, for the licence as for the legacy identifier";
the state's rule is older). In the seller guide's order a buyer's Purchase Agreement Ended opens their final hour and
License Deprovisioned closes it, about an hour later (``buyer_times``: a Deprovisioned after the Ended that opened it
is the close; the simulator's ``ended_first``). A buyer back within that hour on the same licence (attack 42's model:
a new agreement, License Updated as they come back) has that Deprovisioned, their first leave's close, stamped after
their return. ``buyer_times`` takes it for a leave of the subscription they came back to: the licence's latest ending
is newer than their latest activation, and the rule that makes it a close asks that *every* agreement has ended (the
new one has not). They read ENDING from 11:00 (their cutoff 11:45, then the final-usage step ends them at 12:00) though
their new agreement is live: their usage after the cutoff is refused, lost revenue. The Deprovisioned names the
agreement it closes (License events carry ``agreement.id``): the one that ended at 10:00, not the live one."""

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


def test_the_first_leaves_deprovisioned_does_not_end_the_agreement_they_came_back_on() -> None:
    licence = times_of(
        (LifecycleKind.ACTIVATED, at(9)),  # License Updated as they subscribe (agmt-1)
        (LifecycleKind.ACTIVATED, at(10, 30)),  # License Updated: back, on agmt-2
        (LifecycleKind.ENDING, at(11)),  # License Deprovisioned: agmt-1's final hour over
    )
    first = times_of((LifecycleKind.ACTIVATED, at(9)), (LifecycleKind.ENDING, at(10)))  # Created, Ended
    second = times_of((LifecycleKind.ACTIVATED, at(10, 30)))  # Created: live
    times = buyer_times(licence, {"agmt-1": first, "agmt-2": second}, None)
    assert times.state is SubscriptionState.ACTIVE, f"{times.state} since {times.changed_at}"
    assert times.changed_at == at(10, 30)


def test_their_usage_on_the_live_agreement_is_taken_after_the_first_leaves_close() -> None:
    product = Product(code="p", name="P", dimensions=(Dimension("calls"),))
    settings = Settings(products=(product,))
    fake = InMemoryCustomers()
    ref = CustomerRef("p", license_arn=LICENCE_ARN)
    fake.put(Customer(ref, "111122223333", SubscriptionState.ACTIVE, at(9), agreement_id="agmt-1"))
    events, lic = fake.lifecycle_store, licence_subject("l-0001")
    events.link(lic, "agmt-1")
    events.record(agreement_subject("agmt-1"), LifecycleKind.ACTIVATED, at(9))  # Purchase Agreement Created
    events.record(lic, LifecycleKind.ACTIVATED, at(9))  # License Updated
    events.record(agreement_subject("agmt-1"), LifecycleKind.ENDING, at(10))  # Purchase Agreement Ended: leaving
    events.link(lic, "agmt-2")  # back at 10:30 on the same licence
    events.record(agreement_subject("agmt-2"), LifecycleKind.ACTIVATED, at(10, 30))
    events.record(lic, LifecycleKind.ACTIVATED, at(10, 30))
    events.record(lic, LifecycleKind.ENDING, at(11))  # License Deprovisioned (agmt-1's): its final hour over
    usage = {
        "event_id": "on-agmt-2",
        "product_code": "p",
        "license_arn": LICENCE_ARN,
        "customer_aws_account_id": "111122223333",
        "dimension": "calls",
        "quantity": 5,
        "timestamp": at(12).isoformat(),
    }
    store = InMemoryUsage()
    try:
        result = record_usage([usage], settings=settings, customers=fake, store=store, clock=ManualClock(at(12, 5)))
    except UsageRejected as refusal:
        pytest.fail(f"usage of their live agreement refused: {refusal}")
    assert result.accepted == ("on-agmt-2",)
    assert sum((e.quantity for e in store.events.values()), Decimal(0)) == Decimal(5)
