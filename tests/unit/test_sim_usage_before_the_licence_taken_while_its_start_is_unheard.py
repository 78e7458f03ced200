"""Simulator seed 162 (``python -m sim --seed 162``, worlds drawing a buyer back within the final hour they left; found
on 71f8dd8). A licence buyer subscribes at 08:00, registers at once and leaves at 08:06. AWS's messages are late (up
to 20 minutes on the lifecycle queue): their agreement's Purchase Agreement Ended is heard at 08:10, before its
Purchase Agreement Created and the licence's License Updated (both stamped 08:00). Meanwhile the buyer reads
``ending`` with no start known (``subscribed_at`` None: no activation heard), and ingest's check "before this buyer's
subscription started" has nothing to compare with: usage stamped at 04:30, hours before the licence existed, is
answered 200 at 08:11 and billed (a late event goes into the next unsent hour, theirs). A ``pending`` buyer (nothing
heard but the registration) is refused; an ``ending`` one whose start is unheard should be too, or at least not for
usage before their registration. Correct: usage stamped before the subscription is never taken as theirs."""

from __future__ import annotations

from functions.customers.model import SubscriptionState
from tests.unit.review23_world import World, hour


def test_usage_stamped_hours_before_the_licence_is_refused_while_the_leave_is_heard_first() -> None:
    world = World()
    world.register_with(world.parties.agreement_id)  # 08:00: the buyer registers; Created and License Updated late
    world.at(hour(8, 10))
    world.send_stamped("ended_proposer.json", hour(8, 6))  # they left at 08:06: the Ended heard first
    assert world.customer().state is SubscriptionState.ENDING
    taken = world.units_taken("before-the-licence", 7, stamp=hour(4, 30))
    world.send_stamped("created_proposer_new.json", hour(8))
    world.send_stamped("license_updated.json", hour(8))

    world.at(hour(11))  # the flush runs at 09:06 and 10:06; the final usage is sent

    assert (taken, world.billed_hours()) == (0, {}), "usage stamped 04:30, before the subscription of 08:00, taken"
