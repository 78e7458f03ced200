"""The order a leaving buyer's final-usage step sends in: oldest hour first, nearest Marketplace's 24-hour window and
its month-end cutoff (a step throttled or out of time leaves the newest for the flush, never the oldest), but a carry
it placed in an earlier hour after its final hour's record (its answer must never be written first: attack 68)."""

from __future__ import annotations

from dataclasses import replace

from functions.customers.model import SubscriptionState
from functions.flush.customer import send_customer_usage
from functions.usage.model import MAX_INTEGER_QUANTITY
from tests.unit.review23_world import CARRIED, hour, logged_world


def test_a_pending_record_of_an_earlier_hour_goes_before_the_open_hours() -> None:
    world, marketplace = logged_world()
    world.subscribe()
    world.at(hour(9, 10))
    assert world.units_taken("u9", 5) == 5
    marketplace.unavailable = 1_000
    world.at(hour(10, 7))  # 09:00 sealed, every call throttled: left pending
    marketplace.unavailable = 0
    assert world.units_taken("u10", 3) == 3
    world.clock.set(hour(10, 40))
    leaving = replace(world.customer(), state=SubscriptionState.ENDING, final_usage_cutoff=hour(10, 30))
    calls_before = len(marketplace.calls)
    send_customer_usage(leaving, world.deps, out_of_time=lambda: False)
    (call,) = marketplace.calls[calls_before:]
    assert [(r.hour, int(r.quantity)) for r in call] == [(hour(9), 5), (hour(10), 3)]
    assert world.billed_hours() == {hour(9): 5, hour(10): 3}


def test_a_placed_carry_goes_after_its_final_hours_record() -> None:
    world, marketplace = logged_world()
    world.subscribe()
    world.at(hour(10, 10))
    assert world.record(world.usage_event("big-1", 2_000_000_000), world.usage_event("big-2", 2_000_000_000)).accepted
    world.clock.set(hour(10, 40))
    leaving = replace(world.customer(), state=SubscriptionState.ENDING, final_usage_cutoff=hour(10, 30))
    calls_before = len(marketplace.calls)
    send_customer_usage(leaving, world.deps, out_of_time=lambda: False)
    (call,) = marketplace.calls[calls_before:]
    assert [(r.hour, int(r.quantity)) for r in call] == [(hour(10), MAX_INTEGER_QUANTITY), (hour(9), CARRIED)]
    assert world.billed_hours() == {hour(9): CARRIED, hour(10): MAX_INTEGER_QUANTITY}
