"""Attack 45 (on f0fea20, ``_closes_a_left_agreement``). Attack 44's buyer, later: in the seller guide's order their
agreement agmt-1's Purchase Agreement Ended opens a final hour at 10:00 and its License Deprovisioned closes it at
11:00; they came back on the same licence at 10:30 (agmt-2, License Updated). f0fea20 reads that Deprovisioned as
agmt-1's close only *while agmt-2 is live* ("another agreement ... still live"). Two days later the buyer leaves agmt-2,
in the same order: agmt-2's Ended at 09:00 opens their final hour, its Deprovisioned will close it about 10:00. As soon
as agmt-2 has ended, agmt-1's old Deprovisioned (still the licence's latest ending) no longer "closes a left agreement"
and counts as a leave of the current subscription: newer than their latest activation (10:30 on the 26th), earlier
than agmt-2's Ended, so it is the first that opened the hour. The buyer reads ENDING since the 26th at 11:00: their
cutoff is that hour's (the lifecycle, never setting one in the past, sets it to when it hears agmt-2's Ended), usage
of their real final hour (09:00 to 09:45) is refused (lost revenue), and the final-usage step, due at once and finding
that hour long over, records ENDED back-dated to the 26th at 12:00 (an earlier subscription's event ends them,
invariant 1). It lasts for ever: agmt-2's Deprovisioned, when it comes, leaves them ENDED since the 26th at 12:00.
Here the lifecycle has not run: the refusal names the cutoff the state implies."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.subjects import agreement_subject, licence_subject
from functions.customers.subscription import LifecycleKind, buyer_times
from functions.settings import Dimension, Product, Settings
from functions.usage.ingest import UsageRejected, record_usage
from tests.fakes import InMemoryCustomers, InMemoryUsage
from tests.unit.lifecycle_events import times_of

LICENCE_ARN = "arn:aws:license-manager::294406891311:license:l-0001"


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


LICENCE = (
    (LifecycleKind.ACTIVATED, _at(26, 9)),  # License Updated as they subscribe (agmt-1)
    (LifecycleKind.ACTIVATED, _at(26, 10, 30)),  # License Updated: back, on agmt-2
    (LifecycleKind.ENDING, _at(26, 11)),  # License Deprovisioned: agmt-1's final hour over
)
FIRST = ((LifecycleKind.ACTIVATED, _at(26, 9)), (LifecycleKind.ENDING, _at(26, 10)))  # Created, Ended
SECOND = ((LifecycleKind.ACTIVATED, _at(26, 10, 30)), (LifecycleKind.ENDING, _at(28, 9)))  # Created, Ended: leaving


def test_the_first_leaves_close_does_not_open_the_second_leave() -> None:
    times = buyer_times(times_of(*LICENCE), {"agmt-1": times_of(*FIRST), "agmt-2": times_of(*SECOND)}, None)
    # leaving since agmt-2's Ended, its Deprovisioned (about 10:00) still to come
    assert times.state is SubscriptionState.ENDING, f"{times.state} since {times.changed_at}"
    assert times.changed_at == _at(28, 9), f"their final hour read as opened at {times.changed_at}"


def test_their_final_hour_usage_is_taken_before_their_cutoff() -> None:
    product = Product(code="p", name="P", dimensions=(Dimension("calls"),))
    settings = Settings(products=(product,))
    assert settings.final_usage_cutoff_seconds == 2700  # their cutoff: 09:00 + 45 minutes on the 28th
    fake = InMemoryCustomers()
    ref = CustomerRef("p", license_arn=LICENCE_ARN)
    fake.put(Customer(ref, "111122223333", SubscriptionState.ACTIVE, _at(26, 9), agreement_id="agmt-1"))
    events, lic = fake.lifecycle_store, licence_subject("l-0001")
    events.link(lic, "agmt-1")
    events.link(lic, "agmt-2")
    for kind, at in LICENCE:
        events.record(lic, kind, at)
    for kind, at in FIRST:
        events.record(agreement_subject("agmt-1"), kind, at)
    for kind, at in SECOND:
        events.record(agreement_subject("agmt-2"), kind, at)
    usage = {
        "event_id": "final-hour",
        "product_code": "p",
        "license_arn": LICENCE_ARN,
        "customer_aws_account_id": "111122223333",
        "dimension": "calls",
        "quantity": 7,
        "timestamp": _at(28, 9, 20).isoformat(),
    }
    store = InMemoryUsage()
    try:
        result = record_usage(
            [usage], settings=settings, customers=fake, store=store, clock=ManualClock(_at(28, 9, 25))
        )
    except UsageRejected as refusal:
        pytest.fail(f"usage of their final hour, before their cutoff, refused: {refusal}")
    assert result.accepted == ("final-hour",)
    assert sum((e.quantity for e in store.events.values()), Decimal(0)) == Decimal(7)
