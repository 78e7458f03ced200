"""Attack 58 (on fa4529a, ``_holds_at``: an agreement only a registration linked, nothing heard of it, holds nothing).

A buyer on agmt-1 (08:00) accepts a replacement offer at 10:00: AWS creates agmt-2 (intent RENEW, replacing agmt-1) and
ends agmt-1 (its Purchase Agreement Ended, 10:00). The buyer is sent to the fulfillment URL again and registers at
10:02 with the new token, which resolves to agmt-2: the registration links agmt-2 to them. agmt-1's Ended is delivered
at 10:05; agmt-2's Created and License Updated (both 10:00) are delivered late, at 11:30 (EventBridge's redelivery, a
message redriven from the DLQ: within the 0-3 hours attack 54 models).

Before fa4529a the registered agmt-2, silent, held the licence: agmt-1's Ended was a renewal's replaced agreement's end
and opened no leave. Since fa4529a agmt-2 holds nothing until its events come, so agmt-1's Ended opens the buyer's final
hour: they read ``ending`` at 10:05, their usage after the 10:45 cutoff is refused ("subscription ended"), the
final-usage step records them ENDED at 11:00 and announces Customer Ended to the seller's systems (which deprovision
the tenant) - for a buyer who never left (invariant 5: a renewal ends nobody; invariant 4). The buyer's
re-registration, which told us which agreement they are on now, is exactly what no longer protects them. Money: every
record of the live buyer's between the cutoff and the late Created's arrival is refused (here 10:55 and 11:10: 11
units), unbilled for ever.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from functions.customers.model import SubscriptionState
from functions.lifecycle.service import CUSTOMER_ENDED
from functions.usage.ingest import UsageRejected
from tests.unit.review23_world import World, hour

SECOND = "agmt-0000000000000000000000002"


def _story(*, registers_again: bool) -> tuple[list[str], dict[datetime, int], int, list[SubscriptionState]]:
    world = World()
    world.subscribe()  # agmt-1, 08:00
    first = world.parties.agreement_id
    world.at(hour(10, 2))
    if registers_again:  # the new token resolves to agmt-2, the agreement they are on now
        world.register_with(SECOND)
    world.at(hour(10, 5))
    world.send_stamped("ended_proposer.json", hour(10), agreement_id=first)  # agmt-1 replaced
    states = [world.customer().state]
    world.at(hour(10, 30))
    used = world.units_taken("a", 4)
    world.at(hour(10, 55))
    used += world.units_taken("b", 5)
    world.at(hour(11, 10))
    used += world.units_taken("c", 6)
    states.append(world.customer().state)
    world.at(hour(11, 30))  # agmt-2's events, stamped 10:00, delivered late
    world.send_stamped("created_proposer_renew.json", hour(10), agreement_id=first, renewal_agreement_id=SECOND)
    world.send_stamped("license_updated.json", hour(10), agreement_id=SECOND)
    states.append(world.customer().state)
    world.at(hour(11, 40))
    used += world.units_taken("d", 7)
    world.at(hour(14, 10))
    announced = [e.detail_type for e in world.lifecycle.publisher.events]  # type: ignore[attr-defined]
    return announced, world.billed_hours(), used, states


def test_a_buyer_registered_on_their_renewal_is_not_ended_by_the_replaced_agreements_end() -> None:
    announced, billed, used, states = _story(registers_again=True)
    assert states == [SubscriptionState.ACTIVE] * 3, f"states at 10:05, 11:10, 11:30: {states}"
    assert CUSTOMER_ENDED not in announced, "Customer Ended announced for a buyer on a live renewal"
    assert used == 22, f"only {used} of the live buyer's 22 units were taken"
    assert sum(billed.values()) == 22


def test_for_comparison_a_buyer_who_did_not_register_again() -> None:
    """Not a break of fa4529a: the same story without the re-registration (agmt-2 not linked until its Created)
    reads the same way before and after it. Kept to show the fix made the re-registered buyer no better off than this
    one."""
    _, billed, used, states = _story(registers_again=False)
    assert states[-1] is SubscriptionState.ACTIVE
    assert sum(billed.values()) == used


def test_the_wrongful_end_leaves_the_renewed_buyers_start_moved_for_ever() -> None:
    """The same re-registered buyer, agmt-2's events heard at 11:30 (they read ACTIVE again). At 12:00 a License
    Updated names agmt-2 (an entitlement change, an amendment). The final-usage step's end stamped at 11:00 for the
    leave that never was now counts as an end before their newest activation, and their subscription reads as started at
    12:00 for ever: their usage of 10:50 and 11:30, sent at 12:10 (well within Marketplace's 24 hours), is refused as
    "before this buyer's subscription started: it is not theirs" (invariant 5, and the seller loses it: here 6 units,
    at worst every late record of the day). On fa4529a's parent, which let the registered agmt-2 hold, both are
    billed."""
    world = World()
    world.subscribe()  # agmt-1, 08:00
    first = world.parties.agreement_id
    world.at(hour(10, 2))
    world.register_with(SECOND)
    world.at(hour(10, 5))
    world.send_stamped("ended_proposer.json", hour(10), agreement_id=first)
    world.at(hour(11, 30))
    world.send_stamped("created_proposer_renew.json", hour(10), agreement_id=first, renewal_agreement_id=SECOND)
    world.send_stamped("license_updated.json", hour(10), agreement_id=SECOND)
    assert world.customer().state is SubscriptionState.ACTIVE
    world.at(hour(12))
    world.send("license_updated.json", agreement_id=SECOND)
    world.at(hour(12, 10))
    late = 0
    for event_id, stamp in (("late-1050", hour(10, 50)), ("late-1130", hour(11, 30))):
        with contextlib.suppress(UsageRejected):
            late += 3 * len(world.record(world.usage_event(event_id, 3, stamp=stamp)).accepted)
    start = world.customer().subscribed_at
    world.at(hour(14, 10))
    assert start == hour(8), f"the renewed buyer's subscription reads as started at {start}"
    assert late == 6
    assert sum(world.billed_hours().values()) == 6
