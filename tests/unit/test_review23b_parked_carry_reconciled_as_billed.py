"""Review 23b: the reconciliation matches a record to CloudTrail by (customer, dimension, hour), not by our key. A
leaving legacy buyer's carry parked (CarriedPastEnd) as a record of the hour after their final hour, under its own key
``#carried-past-end``, is matched to the record of the buyer back under the same identifier in that hour; where the
quantities are equal (a 1-unit leftover, 1 unit used), ``billed_after_all`` takes it for a parked record whose first
send was committed after all, and the reconciliation corrects the ledger: the parked carry is recorded as sent, with
the returning buyer's MeteringRecordId. Its unit is then neither billed nor parked: the ledger says Marketplace billed
2 units for 11:00 where it billed 1, and no metric or report shows the lost unit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.flush.audit import AuditDeps, TrailResult, reconcile_due
from functions.flush.records import PARKED_CARRY
from tests.unit.review23_world import IDENTIFIER, LEGACY, World, hour, legacy_sns, legacy_usage


class MarketplaceTrail:
    """CloudTrail as it shows the fake Marketplace's billed records (Success results, at the time we recorded them)."""

    def __init__(self, world: World) -> None:
        self.world = world

    def metering_results(self, start: datetime, end: datetime | None = None) -> Iterator[TrailResult]:
        results = {r.metering_record_id: r.at for r in self.world.ledger.results.values() if r.at is not None}
        for (customer, dimension, at), (record, record_id) in self.world.marketplace.billed.items():
            if at >= start:
                when = results.get(record_id) or self.world.clock.now()
                yield TrailResult(customer, None, dimension, at, record.quantity, "Success", record_id, when)


def test_a_parked_carry_is_not_reconciled_as_billed_by_the_returning_buyers_record() -> None:
    world = World(product=LEGACY)
    ref = CustomerRef(LEGACY.code, customer_identifier=IDENTIFIER)
    world.customers.put(Customer(ref, "845735284135", SubscriptionState.PENDING, world.clock.now()))
    legacy_sns(world, "subscription_subscribe-success.txt")  # 08:00
    for h in (8, 9):  # a record every hour: no earlier hour free for a carry
        world.at(hour(h, 10))
        world.record(legacy_usage(world, f"u{h}", 1))
    world.at(hour(10))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    world.at(hour(10, 5))
    world.record(
        legacy_usage(world, "big-1", 1_073_741_824), legacy_usage(world, "big-2", 1_073_741_824)
    )  # 2**31: 1 over
    world.at(hour(10, 55))
    legacy_sns(world, "subscription_unsubscribe-success.txt")
    world.at(hour(11, 5))
    legacy_sns(world, "subscription_subscribe-success.txt")  # back, same identifier
    world.at(hour(11, 10))
    assert world.record(legacy_usage(world, "back", 1)).accepted == ("back",)
    world.at(hour(14, 30))
    [parked] = [e for e in world.ledger.entries_of_hour(hour(11)) if e.record.key.endswith(PARKED_CARRY)]
    assert (parked.status, parked.reason, parked.record.quantity) == ("failed", "CarriedPastEnd", Decimal(1))

    # the flush's hourly reconciliation (as the flush runs it, with the ledger as its mark)
    deps = AuditDeps(world.ledger.entries_of_hour, MarketplaceTrail(world), mark=world.ledger)
    reconcile_due(deps, world.clock.now(), lambda: False)

    # Then the carry stays parked, and the ledger's sent units are what Marketplace billed
    after = {e.record.key: e for e in world.ledger.entries_of_hour(hour(11))}[parked.record.key]
    assert (after.status, after.reason) == ("failed", "CarriedPastEnd"), after
    sent = sum((r.record.quantity for r in world.ledger.results.values() if r.status == "sent"), Decimal(0))
    billed = sum(world.billed_hours().values())
    assert billed == 2_147_483_650  # 1 + 1 + 2,147,483,647 + 1
    assert sent == billed, f"the ledger says {sent} units billed, Marketplace billed {billed}"
