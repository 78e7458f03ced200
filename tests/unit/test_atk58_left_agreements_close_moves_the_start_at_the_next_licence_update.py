"""Attack 58, found beside fa4529a (not caused by it: its parent fails the same). ``_started`` counts every ending of
the licence as an end before the current subscription, a left agreement's close included.

A buyer leaves agmt-1 (its Purchase Agreement Ended, 10:00) and comes back on the same licence under agmt-2 at 10:20,
within the final hour (agmt-2's License Updated and Created heard at once). agmt-1's close, the License Deprovisioned
naming it, comes at 11:00 as the seller guide says, and is read right: a left agreement's close, the buyer ACTIVE on
agmt-2 since 10:20. At 13:00 a License Updated names agmt-2 again (an entitlement change, an amendment: any licence
update). Their newest activation is now 13:00, agmt-1's close at 11:00 is before it and counts as an end, and their
subscription reads as started at 13:00: usage they sent late (well within Marketplace's 24 hours) stamped 10:30 or
12:00, in their live subscription, is refused "before this buyer's subscription started: it is not theirs", for ever
(invariants 4 and 5: a buyer on a live agreement loses the hours of it behind a licence update; the seller loses the
revenue: here 6 units, at worst a day of late records). Without the 13:00 update both are taken and billed. The flush's
carries are also bounded by this start (``send_customer_usage``'s ``since``)."""

from __future__ import annotations

import contextlib

from functions.customers.model import SubscriptionState
from functions.usage.ingest import UsageRejected
from tests.unit.review23_world import World, hour

SECOND = "agmt-0000000000000000000000002"


def _late_usage_taken(*, licence_updated_later: bool) -> tuple[int, int]:
    world = World()
    world.subscribe()  # agmt-1, 08:00
    first = world.parties.agreement_id
    world.at(hour(10))
    world.send("ended_proposer.json")
    world.at(hour(10, 20))  # back on the licence under agmt-2
    world.send("license_updated.json", agreement_id=SECOND)
    world.send("created_proposer_new.json", agreement_id=SECOND)
    world.at(hour(11))
    world.send("license_deprovisioned.json", agreement_id=first)  # agmt-1's close
    assert world.customer().state is SubscriptionState.ACTIVE
    if licence_updated_later:
        world.at(hour(13))
        world.send("license_updated.json", agreement_id=SECOND)
    world.at(hour(13, 5))
    taken = 0
    for event_id, stamp in (("late-1030", hour(10, 30)), ("late-1200", hour(12))):
        with contextlib.suppress(UsageRejected):
            taken += 3 * len(world.record(world.usage_event(event_id, 3, stamp=stamp)).accepted)
    world.at(hour(16, 10))
    return taken, sum(world.billed_hours().values())


def test_without_a_later_licence_update_the_late_usage_is_billed() -> None:
    """Holds: the reference."""
    assert _late_usage_taken(licence_updated_later=False) == (6, 6)


def test_a_later_licence_update_does_not_take_the_hours_of_the_live_subscription() -> None:
    assert _late_usage_taken(licence_updated_later=True) == (6, 6)
