"""Attack 63. Attack 59's buyer (back within the final hour: agmt-1's Ended at 10:00, agmt-2 accepted at 10:20 and
registered with at 10:25) cancels agmt-2 at 10:30 (its License Deprovisioned and its Ended). agmt-2's events (its
Created, License Updated, Deprovisioned, Ended) are late, heard at 12:40; agmt-1's License Deprovisioned (its close)
comes on time at 11:00.

fa4529a has agmt-2, nothing heard of it yet, take the licence at the registration (``takes``), so agmt-1's
Deprovisioned at 11:00 closes a left agreement and nothing of the buyer's: they read ``active`` from 11:00 until the
late events, the final-usage step due at 11:00 finds them reactivated and ends nobody. Usage stamped 12:15 (after
every final hour: agmt-2's, 10:30-11:30, is the last) is answered 200, and billed (hour 12) once the late events
reopen the leave.

Invariants 1 and 4: a buyer who left stays meterable until the new agreement's late events, and is billed for usage
after their final hour. On fa4529a^ agmt-1's Deprovisioned is a leave at 11:00: the buyer is ended at 12:00 and the
12:15 usage refused (this test passes there): new with fa4529a."""

from __future__ import annotations

from functions.customers.model import SubscriptionState
from tests.unit.review23_world import World, hour
from tests.unit.test_atk63_future_renewal_registered_then_left_stays_meterable import (
    FIRST,
    SECOND,
    offered,
    register,
    send,
)


def test_a_buyer_back_within_the_hour_who_cancels_is_not_billed_after_their_final_hour() -> None:
    world = World()
    world.subscribe()  # agmt-1 at 08:00
    world.at(hour(9, 30))
    used = {hour(9): offered(world, "u9", 1)}
    world.at(hour(10))
    send(world, "ended_proposer.json", hour(10), FIRST)  # they leave agmt-1
    world.at(hour(10, 25))
    register(world, SECOND)  # back: agmt-2 accepted at 10:20, its events late
    world.at(hour(10, 28))
    used[hour(10)] = offered(world, "u10", 2)
    world.at(hour(11))
    send(world, "license_deprovisioned.json", hour(11), FIRST)  # agmt-1's close
    world.at(hour(12, 15))
    after = offered(world, "after", 7)  # after every final hour: they cancelled agmt-2 at 10:30
    state_after = world.customer().state
    world.at(hour(12, 40))
    send(world, "created_proposer_new.json", hour(10, 20), SECOND)
    send(world, "license_updated.json", hour(10, 20), SECOND)
    send(world, "license_deprovisioned.json", hour(10, 30), SECOND)
    send(world, "ended_proposer.json", hour(10, 30), SECOND)
    world.at(hour(15, 10))
    assert world.customer().state is SubscriptionState.ENDED
    assert after == 0, f"usage at 12:15 answered 200 ({state_after}): the buyer left agmt-2 at 10:30"
    assert world.billed_hours() == used, f"billed {world.billed_hours()}, used in their subscription {used}"
