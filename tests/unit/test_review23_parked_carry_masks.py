"""Review of issue 23: a leaving buyer's carry with no earlier hour free is parked (CarriedPastEnd) as a record of
the hour after their final hour. A legacy buyer who subscribes again under the same customer identifier and uses the
product in that hour is answered 200, and their usage is never billed: the flush finds a record of that key stored
for the hour and keeps it (SealedTotalMismatch only), and the reconciliation finds nothing (the parked record holds
more than was accepted). Simulator seeds 77 and 945 with the review's final-hour carries."""

from __future__ import annotations

from decimal import Decimal

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from tests.unit.review23_world import IDENTIFIER, LEGACY, World, hour, legacy_sns, legacy_usage


def test_usage_of_a_buyer_back_in_the_hour_after_their_parked_carry_is_billed() -> None:
    world = World(product=LEGACY)
    ref = CustomerRef(LEGACY.code, customer_identifier=IDENTIFIER)
    world.customers.put(Customer(ref, "845735284135", SubscriptionState.PENDING, world.clock.now()))
    legacy_sns(world, "subscription_subscribe-success.txt")  # 08:00
    for h in (8, 9):  # a record every hour: no earlier hour free for a carry
        world.at(hour(h, 10))
        world.record(legacy_usage(world, f"u{h}", 1))
    world.at(hour(10))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")  # usage taken until 10:45, final usage at 10:46:30
    world.at(hour(10, 5))
    world.record(legacy_usage(world, "big-1", 2_000_000_000), legacy_usage(world, "big-2", 2_000_000_000))
    world.at(hour(10, 55))
    legacy_sns(world, "subscription_unsubscribe-success.txt")
    world.at(hour(11, 5))
    legacy_sns(world, "subscription_subscribe-success.txt")  # the buyer subscribes again
    world.at(hour(11, 10))
    assert world.record(legacy_usage(world, "back", 5)).accepted == ("back",)  # a 200: billed in 11:00
    world.at(hour(14, 10))
    billed = sum(world.billed_hours().values())
    parked = sum((r.record.quantity for r in world.ledger.results.values() if r.status != "sent"), Decimal(0))
    assert world.billed_hours().get(hour(11)) == 5, world.billed_hours()
    assert billed + parked == 4_000_000_007
