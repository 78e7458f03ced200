"""Attack 57 on 578d1a6: ``begin_reconciliation`` is written by whichever live sender comes first, and the two start it
at different hours. The flush starts it at the oldest hour it may send (``unsent_mark``: records left pending by
earlier runs, as far back as they go); a leaving buyer's final-usage step at the oldest of its own buyer's records.
Both reach back 24 hours at most from there, so when the step comes first, any other buyer's records left pending
more than 24 hours back (the flush parks them as out of the window: TimestampOutOfBoundsException) lie before the
start, and their hours are never reconciled. A record of them Marketplace billed, its answer lost, stays ``failed``
for ever: billed units the ledger reports as never billed ("billed after all" never runs), simulator seed 43633's
loss, which the flush's own begin would have caught.

Scenario: a stack upgraded from a version that kept no reconciliation mark (attack 56), whose last flush billed hour
08:00 and died before reading the answer; its flushes then down until the upgrade, the next day at 09:30. Before the
upgraded stack's first flush (10:06), another buyer leaves and their final usage is sent live at 09:50.
Invariant 1: every hour with records sent live is reconciled, whatever sender comes first."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.flush.audit import HourReconciled
from functions.flush.customer import send_customer_usage
from tests.fakes import Killed, LoggedMarketplace
from tests.unit.review23_world import World, hour


def at(h: int, minutes: float = 0) -> datetime:
    """``h`` hours after midnight on the first day (the next day's 09:50 is at(33, 50))."""
    return hour(0) + timedelta(hours=h, minutes=minutes)


OTHER_ARN = "arn:aws:license-manager::294406891311:license:l-0000000000000000000000000000ef01"
OTHER_ACCOUNT = "111122223333"


def test_a_final_usage_sent_before_the_upgraded_flush_begins_after_the_old_versions_unsent_hour() -> None:
    world = World(marketplace=LoggedMarketplace)
    marketplace = world.marketplace
    assert isinstance(marketplace, LoggedMarketplace)

    def old_version(moment: datetime) -> None:
        try:
            world.at(moment)
        finally:
            world.ledger.reconciled, world.ledger.reconciled_version = None, 0  # the old version writes no mark

    world.subscribe()
    old_version(at(8, 10))  # its 08:06 flush: nothing closed; unsent from 08:00 on
    assert world.record(world.usage_event("u1", 40)).accepted == ("u1",)
    marketplace.killing = True
    with pytest.raises(Killed):
        old_version(at(9, 7))  # the 09:06 flush sends hour 08:00, billed, and dies; then no flush until the upgrade
    marketplace.killing = False
    assert world.billed_hours() == {at(8): 40}
    assert world.ledger.unsent_mark().hour == at(8)
    assert world.ledger.reconciled is None

    # the next day, 09:30: the upgrade. Another buyer, subscribed at 09:00, leaves at 09:40
    other = CustomerRef(world.product.code, license_arn=OTHER_ARN)
    world.clock.set(at(33, 30))
    world.customers.put(Customer(other, OTHER_ACCOUNT, SubscriptionState.ACTIVE, at(33), subscribed_at=at(33)))
    event = world.usage_event("o1", 3) | {"license_arn": OTHER_ARN, "customer_aws_account_id": OTHER_ACCOUNT}
    assert world.record(event).accepted == ("o1",)
    stored = world.customers.get(other)
    assert stored is not None
    leaving = replace(stored, state=SubscriptionState.ENDING, final_usage_cutoff=at(33, 40))
    world.customers.put(leaving)
    world.clock.set(at(33, 50))
    report = send_customer_usage(leaving, world.deps, out_of_time=lambda: False)  # its final usage, sent live
    assert report.sent == 1

    reported: list[HourReconciled] = []
    for h in range(34, 38):  # the upgraded stack's flushes, each reconciling after it (run.py)
        world.at(at(h, 7))
        world.reconcile(at(h, 7), lambda: False, reported.append)

    (entry,) = world.ledger.entries_of_hour(at(8))
    reconciled = [r.hour for r in reported]
    # hour 08:00 was sent live (billed 40); the flush parked its record as out of the window at 10:06 (answer lost)
    assert (at(8) in reconciled, entry.status, entry.record.quantity) == (True, "sent", Decimal(40)), (
        f"reconciliation began at {reconciled[0].isoformat()}: hour 08:00 billed, reported {entry.status}"
    )
