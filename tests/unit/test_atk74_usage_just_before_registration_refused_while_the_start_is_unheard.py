"""Attack 74 on 97a5ffb (seed 162's fix): while no activation of a leaving buyer has been heard, usage stamped before
their registration is refused, with no allowance for the producers' clocks; once the activation is heard the same
usage is theirs. Whether a buyer's real usage is billed depends on the order AWS's messages arrive in.

A licence buyer subscribes at 08:00 (Purchase Agreement Created and License Updated stamped 08:00, delivered late) and
registers at 08:05. The seller provisions them at once: their first calls, at 08:05:20, are stamped 08:04:20 by a
producer whose clock is a minute slow (ingest takes stamps up to 5 minutes ahead of ours, ``FUTURE_SKEW``: producers'
clocks drift). The buyer leaves at 08:20 and the Ended is heard first, at 08:25 (seed 162's order): the buyer reads
``ending`` with no start known. The calls are sent at 08:26 and refused, 422 ``is before this buyer registered``,
though they are well after the subscription's start (08:00), which the Created heard at 08:30 tells. Sent after it,
the same usage is taken (as it was before 97a5ffb). 7 units of real usage lost.

Correct: usage the buyer incurred while subscribed is not refused; the registration bounds the start only loosely
(the subscription began before it; a stamp a few minutes before it, within producers' drift, is not evidence that
the usage predates the subscription)."""

from __future__ import annotations

from functions.customers.model import SubscriptionState
from tests.unit.review23_world import World, hour


def test_usage_stamped_a_minute_before_registration_by_a_slow_clock_is_billed() -> None:
    world = World()
    world.at(hour(8, 5))
    world.register_with(world.parties.agreement_id)  # subscribed 08:00; Created and License Updated late
    world.at(hour(8, 25))
    world.send_stamped("ended_proposer.json", hour(8, 20))  # they left at 08:20: the Ended heard first
    assert world.customer().state is SubscriptionState.ENDING
    world.at(hour(8, 26))
    taken = world.units_taken("first-calls", 7, stamp=hour(8, 4 + 20 / 60))  # 08:04:20
    world.at(hour(8, 30))
    world.send_stamped("created_proposer_new.json", hour(8))
    world.send_stamped("license_updated.json", hour(8))
    assert world.customer().subscribed_at == hour(8)

    world.at(hour(11))  # flushes and the final-usage step
    assert (taken, sum(world.billed_hours().values())) == (7, 7), (
        f"calls of 08:05:20 stamped 08:04:20, after the subscription of 08:00: {taken} units taken, billed "
        f"{world.billed_hours()}"
    )
