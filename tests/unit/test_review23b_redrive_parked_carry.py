"""Review 23b: a leaving buyer's carry that no hour of theirs could take is parked (failed, CarriedPastEnd) as a
record of the hour after their final hour, under its own key (``#carried-past-end``). The operator's redrive treats
it as any failed record: ``refusal`` finds nothing against it (status failed, a reason not in _UNSENDABLE, inside
the 24-hour window), so it is requeued and the next flush sends it to Marketplace, for an hour the buyer was not
subscribed in (CustomerNotSubscribed at best). A legacy buyer back under the same identifier in that hour has a
record of the same (customer, dimension, hour): Marketplace then sees two records for it with different
quantities, and whichever it processes first is billed (usage of the ended subscription billed to the new one, or the
new one's usage answered DuplicateRecord and lost)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.flush.records import PARKED_CARRY, MeteringEntry, MeteringRecord, Placement, RetentionFloor
from functions.flush.service import flush
from operations.queries import OperationsDeps, select
from operations.redrive import redrive
from tests.fakes import LONG_KEPT
from tests.unit.review23_world import IDENTIFIER, LEGACY, World, hour, legacy_sns, legacy_usage


class LedgerView:
    """``operations.queries.MeteringView`` over the unit tests' ledger, requeue as the DynamoDB ledger does it."""

    def retention_floor(self) -> RetentionFloor:
        return LONG_KEPT

    def __init__(self, world: World) -> None:
        self.ledger = world.ledger

    def next_hour_to_seal(self) -> datetime | None:
        return self.ledger.next_hour_to_seal()

    def records_of_hour(self, hour: datetime) -> Iterator[MeteringEntry]:
        return iter(self.ledger.entries_of_hour(hour))

    def sealed_in_dry_run(self, hour: datetime) -> bool:
        return self.ledger.sealed_in_dry_run(hour)

    def modes_kept_since(self) -> datetime | None:
        return self.ledger.modes_kept_since()

    def carried_into(self, hour: datetime) -> list[MeteringRecord]:
        return self.ledger.carried_into(hour)

    def placements_into(self, hour: datetime) -> list[tuple[MeteringRecord, Placement]]:
        return self.ledger.placements_into(hour)

    def pending_count(self) -> int:
        return sum(s == "pending" for _, s in self.ledger.records.values())

    def requeue(self, seen: MeteringEntry) -> bool:
        key = (seen.record.hour, seen.record.key)
        if key not in self.ledger.records or self.ledger.entries_of_hour(seen.record.hour) == []:
            return False
        self.ledger.records[key] = (self.ledger.records[key][0], "pending")
        self.ledger.results.pop(key, None)
        self.ledger.write_pending([seen.record])  # the marks back to its hour, as requeue moves the unsent mark
        return True


def test_a_parked_carry_is_never_redriven_to_marketplace() -> None:
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
    world.record(legacy_usage(world, "big-1", 2_000_000_000), legacy_usage(world, "big-2", 2_000_000_000))
    world.at(hour(10, 55))
    legacy_sns(world, "subscription_unsubscribe-success.txt")
    world.at(hour(11, 5))
    legacy_sns(world, "subscription_subscribe-success.txt")  # the buyer subscribes again
    world.at(hour(11, 10))
    assert world.record(legacy_usage(world, "back", 5)).accepted == ("back",)
    [parked] = [e for e in world.ledger.entries_of_hour(hour(11)) if e.record.key.endswith(PARKED_CARRY)]
    assert (parked.status, parked.reason) == ("failed", "CarriedPastEnd")
    carry = parked.record.quantity

    # the operator redrives what is parked (e.g. after an InvalidLicense incident), inside the window, once the
    # 12:06 flush sealed 11:00 (parked records are listed from sealed hours)
    world.at(hour(12, 10))
    operations = OperationsDeps(world.settings, world.customers, world.usage, LedgerView(world), world.clock)
    outcomes = redrive(operations, select(operations, since=hour(8), until=hour(11)))
    carried_outcome = [o for o in outcomes if o.entry.record.key.endswith(PARKED_CARRY)]

    world.at(hour(14, 10))
    flush(world.deps, remaining_ms=lambda: 900_000)
    sent_carries = [r for call in world.marketplace.calls for r in call if r.key.endswith(PARKED_CARRY)]

    # the parked carry is refused by redrive (it has no hour Marketplace would bill it in), never sent
    assert [o.outcome for o in carried_outcome] == ["refused"], carried_outcome
    assert sent_carries == [], f"a parked carry of {carry} units was sent to Marketplace for 11:00"
    # the returning buyer's 5 units are what 11:00 bills, and the carry stays parked (not a duplicate)
    assert world.billed_hours().get(hour(11)) == 5, world.billed_hours()
    stored = {e.record.key: e for e in world.ledger.entries_of_hour(hour(11))}
    assert stored[parked.record.key].reason == "CarriedPastEnd"
    billed = sum(world.billed_hours().values())
    parked_units = sum((r.record.quantity for r in world.ledger.results.values() if r.status != "sent"), Decimal(0))
    assert billed + parked_units == 4_000_000_007
