"""Review of issue 23: a leaving buyer's carry (usage over one record's maximum in their final hour) is placed in the
hour the final-usage step runs in when that is after the final hour, not in an earlier free hour of theirs."""

from __future__ import annotations

from functions.customers.model import SubscriptionState
from functions.usage.model import MAX_INTEGER_QUANTITY, hour_of
from tests.unit.review23_world import World, hour


def leaving_at_14_past_with_a_carry(world: World) -> None:
    """Subscribed at 08:00, 4,000,000,000 calls at 10:05 (one record's maximum and a carry of 1,852,516,353), the
    licence deprovisioned at 10:14: the final hour is 10:00, usage taken until 10:59 (45 minutes after), and the
    final-usage step runs 90 s after that, at 11:00:30."""
    world.subscribe()
    world.at(hour(10, 5))
    assert world.record(world.usage_event("big-1", 2_000_000_000), world.usage_event("big-2", 2_000_000_000)).accepted
    world.at(hour(10, 14))
    world.send("license_deprovisioned.json")
    customer = world.customer()
    assert customer.state is SubscriptionState.ENDING
    assert customer.final_usage_cutoff == hour(10, 59)


def test_a_leaving_buyers_carry_is_billed_in_their_own_hours_never_after_their_final_hour() -> None:
    world = World()
    leaving_at_14_past_with_a_carry(world)
    # When the final-usage step runs (11:00:30) and the hours settle
    world.at(hour(13, 10))
    # Then every unit is billed, and none in an hour after the final one (10:00): 08:00 and 09:00 are free hours of
    # the buyer for the carry (docs/metering.md: "what it would carry is billed instead in earlier hours of theirs")
    final_hour = hour_of(world.customer().final_usage_cutoff or hour(0))
    billed = world.billed_hours()
    assert sum(billed.values()) == 4_000_000_000
    assert billed[final_hour] == MAX_INTEGER_QUANTITY
    assert [h for h in billed if h > final_hour] == [], f"billed after the buyer's final hour: {billed}"


def test_usage_accepted_after_a_late_renewal_is_billed_not_masked_by_a_carry_placed_in_its_hour() -> None:
    world = World()
    leaving_at_14_past_with_a_carry(world)
    world.at(hour(11, 1))  # the final usage went out at 11:00:30
    # When a renewal Marketplace announced late makes the buyer active again (a License Updated after the end) and
    # their usage at 11:10 is accepted (docs: usage after a final usage sent moves past the cutoff's hour: 11:00)
    world.at(hour(11, 5))
    world.send("license_updated.json")
    assert world.customer().state is SubscriptionState.ACTIVE
    world.at(hour(11, 10))
    assert world.record(world.usage_event("after-renewal", 5)).accepted == ("after-renewal",)
    world.at(hour(13, 10))
    # Then the 5 units answered 200 are billed: 4,000,000,005 in all
    assert sum(world.billed_hours().values()) == 4_000_000_005, world.billed_hours()
