"""Simulator seed 73501 (``make sim SEED=73501``). A buyer leaves their agreement (its Ended, then the License
Deprovisioned naming it, an hour later, when the final-usage step also ends them) and comes back on the same licence
under a new agreement. They register again before any event of the new agreement has come: the registration links
it to them, and that agreement, of which nothing was heard, read as still holding the licence. So the left
agreement's Ended no longer closed the leave, its Deprovisioned read as the leave itself, and the buyer was
``ending`` again from there: usage stamped in the gap between the two subscriptions was taken as the old
subscription's final usage and billed to them."""

from __future__ import annotations

from functions.customers.model import SubscriptionState
from functions.usage.ingest import UsageRejected
from tests.unit.review23_world import World, hour

SECOND = "agmt-0000000000000000000000002"


def test_usage_from_between_two_subscriptions_is_never_billed() -> None:
    world = World()
    world.subscribe()  # agmt-1, 08:00
    first = world.parties.agreement_id
    world.at(hour(10))
    world.send("ended_proposer.json")  # they leave agmt-1 at 10:00
    world.at(hour(11))  # the final-usage step ends them; agmt-1's close comes as the hour ends
    world.send("license_deprovisioned.json", agreement_id=first)
    assert world.customer().state is SubscriptionState.ENDED

    gap = hour(11, 15)  # between the two subscriptions
    world.at(hour(11, 20))  # back on the licence under agmt-2 (its events still to come)
    back = world.clock.now()
    world.at(hour(11, 25))
    world.register_with(SECOND)
    assert world.customer().state is SubscriptionState.ENDED, "a registration alone reopened the leave"

    world.at(hour(11, 28))
    try:
        answered = 9 * len(world.record(world.usage_event("gap", 9, stamp=gap)).accepted)
    except UsageRejected:
        answered = 0  # refused: nothing promised

    world.at(hour(11, 35))  # agmt-2's events, stamped when they came back
    world.clock.set(back)
    world.send("license_updated.json", agreement_id=SECOND)
    world.send("created_proposer_new.json", agreement_id=SECOND)
    world.clock.set(hour(11, 35))
    assert world.customer().state is SubscriptionState.ACTIVE
    assert world.customer().subscribed_at == back
    with_new = 4 * len(world.record(world.usage_event("new", 4, stamp=hour(11, 40))).accepted)

    world.at(hour(13, 10))
    assert answered == 0, "usage from before the buyer was back was answered 200"
    assert world.billed_hours() == {hour(11): with_new}, "billed what is not theirs, or not what they used"
