"""Attack 42 (on 0346554, ``_started``: "the first activation after the buyer's last leave before the latest
activation"). Every ending of every subject is now kept (``lc_ending_times``), but ``buyer_times`` passes ``_started``
only a licence's *latest* ending and ended: only a legacy identifier's leaves are taken from the sets. A buyer whose
leaves are told by their licence alone, a legacy-mode listing that notifies over EventBridge (``legacy_sns`` false:
License Deprovisioned, Purchase Agreement Ended; no unsubscribe-pending), and who comes back on the same licence
within their first leave's final hour (attack 41's model: License Updated as they come back), has no other record of
that leave: the final-usage step found them back and recorded no ended. When they leave again, the second License
Deprovisioned overwrites the first as the licence's latest ending (and the second Ended makes the agreements' end the
later one), so their subscription reads as starting at their *first* subscription's start (simulator seed 189228's
bug again, on the licence). Usage stamped between their two subscriptions, refused while they were back, is then
accepted and billed."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.subjects import agreement_subject, licence_subject
from functions.customers.subscription import LifecycleKind, LifecycleTimes, buyer_times
from functions.settings import Dimension, Product, Settings
from functions.usage.ingest import UsageRejected, record_usage
from tests.fakes import InMemoryCustomers, InMemoryUsage
from tests.unit.lifecycle_events import at, times_of

PRODUCT = Product(code="p", name="P", dimensions=(Dimension("calls"),), customer_mode="legacy", legacy_sns=False)
LICENCE_ARN = "arn:aws:license-manager::294406891311:license:l-0001"
IDENTIFIER = "back-within-the-hour"


def test_a_second_licence_leave_keeps_the_subscription_they_came_back_to() -> None:
    licence = times_of(
        (LifecycleKind.ACTIVATED, at(9)),  # License Updated as they subscribe
        (LifecycleKind.ENDING, at(10)),  # License Deprovisioned: they leave
        (LifecycleKind.ACTIVATED, at(10, 30)),  # License Updated: back, within that leave's final hour
    )
    assert buyer_times(licence, {}, LifecycleTimes()).started == at(10, 30)  # right while they are back
    # When they leave again at 12
    times = buyer_times(licence.merge(LifecycleKind.ENDING, at(12)), {}, LifecycleTimes())
    # Then they are leaving the subscription that started at 10:30, not the one of 09:00
    assert times.state is SubscriptionState.ENDING
    assert times.started == at(10, 30), "the first leave, overwritten as the licence's latest ending, was forgotten"


def _usage(event_id: str, at: datetime) -> dict[str, object]:
    return {
        "event_id": event_id,
        "product_code": "p",
        "customer_identifier": IDENTIFIER,
        "dimension": "calls",
        "quantity": 7,
        "timestamp": at.isoformat(),
    }


def test_usage_before_their_first_subscription_stays_refused_once_they_leave_again() -> None:
    """Usage stamped at 10:10, in the final hour of the subscription they left at 10:00, is theirs (Marketplace takes
    that subscription's records until 11:00: simulator invariant 8) and taken both times; usage from before their
    first subscription is refused both times, the second leave forgetting nothing of the first."""
    # Given a legacy-mode buyer whose listing notifies over EventBridge only: their licence and agreements
    fake = InMemoryCustomers()
    ref = CustomerRef("p", customer_identifier=IDENTIFIER)
    fake.put(Customer(ref, "111122223333", SubscriptionState.ACTIVE, at(9), legacy_license_arn=LICENCE_ARN))
    events = fake.lifecycle_store
    lic = licence_subject("l-0001")
    events.link(lic, "agmt-1")
    events.record(agreement_subject("agmt-1"), LifecycleKind.ACTIVATED, at(9))  # Purchase Agreement Created
    events.record(lic, LifecycleKind.ACTIVATED, at(9))  # License Updated
    events.record(agreement_subject("agmt-1"), LifecycleKind.ENDING, at(10))  # Purchase Agreement Ended
    events.record(lic, LifecycleKind.ENDING, at(10))  # License Deprovisioned
    # back at 10:30 on the same licence (a new agreement), before the final-usage step found the hour over
    events.link(lic, "agmt-2")
    events.record(agreement_subject("agmt-2"), LifecycleKind.ACTIVATED, at(10, 30))
    events.record(lic, LifecycleKind.ACTIVATED, at(10, 30))
    settings = Settings(products=(PRODUCT,))
    before = _usage("before", at(8, 50))  # stamped before they first subscribed
    store = InMemoryUsage()
    with pytest.raises(UsageRejected, match="before this buyer's subscription started"):
        record_usage([before], settings=settings, customers=fake, store=store, clock=ManualClock(at(11)))
    final_hour = record_usage(
        [_usage("final-hour", at(10, 10))], settings=settings, customers=fake, store=store, clock=ManualClock(at(11))
    )
    # When they leave again at 12
    events.record(agreement_subject("agmt-2"), LifecycleKind.ENDING, at(12))
    events.record(lic, LifecycleKind.ENDING, at(12))
    # Then usage before their first subscription is still not theirs: refused, nothing of it stored to bill
    refused = False
    try:
        record_usage([before], settings=settings, customers=fake, store=store, clock=ManualClock(at(12, 5)))
    except UsageRejected as refusal:
        refused = "before this buyer's subscription started" in str(refusal)
    assert refused
    assert final_hour.accepted == ("final-hour",)
    assert sum((e.quantity for e in store.events.values()), Decimal(0)) == Decimal(7), "only the final hour's 7 units"
