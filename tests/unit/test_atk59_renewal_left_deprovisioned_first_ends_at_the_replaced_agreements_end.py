"""Attack 59 (on ea24097, ``_holds_at``'s "held from the first thing heard of it" for an agreement with no activation).

A buyer on agmt-1 (08:00) renews at 10:00: agmt-2 replaces agmt-1 (its Ended, 10:00, heard at 10:05). They register
again at 10:02 with the new token (agmt-2 linked: the attack 58 story, which ea24097 fixed). agmt-2's Created and
License Updated (10:00) are delivered late, at 11:30 (EventBridge's 0-3 hours). At 11:00 the buyer leaves agmt-2; the
License Deprovisioned naming it comes first (AWS's sources disagree on the order: whichever comes opens the final
hour), its Ended (11:00) at 11:20. (The registration is not needed: agmt-2's Deprovisioned links it to the licence, and
the third test fails the same without it.)

Until ea24097 the silent agmt-2 held the licence at every time, so agmt-1's Ended stayed a renewal's, and the
Deprovisioned at 11:00 opened the final hour: cutoff 11:45. ea24097 has agmt-2 hold the licence only from the first
thing heard of it: its Deprovisioned at 11:00. So at agmt-1's Ended (10:00) nothing held it but agmt-1, whose Ended
now reads as the buyer's leave at 10:00, and the Deprovisioned at 11:00, after it, closes that "leave": the buyer is
ENDED at once, the final-usage step cuts them off at 11:00 and announces Customer Ended. Their final usage (stamped
11:10 and 11:40, within their final hour, before the 11:45 cutoff) is refused (invariant 4: a leaving buyer's final
usage is billed; invariant 3: heard in time, the same events keep it). The used cutoff is never moved later, so the
late events do not bring it back. Money: the whole final hour's usage (here 11 units; for a real workload, the last
45 minutes of metering).
"""

from __future__ import annotations

from datetime import datetime

from functions.customers.model import SubscriptionState
from tests.unit.review23_world import World, hour

SECOND = "agmt-0000000000000000000000002"


def _story(*, renewal_late: bool, registers: bool = True) -> tuple[int, dict[datetime, int], list[SubscriptionState]]:
    world = World()
    world.subscribe()  # agmt-1, 08:00
    first = world.parties.agreement_id
    world.at(hour(10, 2))
    if registers:
        world.register_with(SECOND)
    if not renewal_late:
        world.send_stamped("created_proposer_renew.json", hour(10), agreement_id=first, renewal_agreement_id=SECOND)
        world.send_stamped("license_updated.json", hour(10), agreement_id=SECOND)
    world.at(hour(10, 5))
    world.send_stamped("ended_proposer.json", hour(10), agreement_id=first)  # agmt-1 replaced
    world.at(hour(10, 30))
    used = world.units_taken("a", 2, hour(10, 30))
    world.at(hour(11))
    world.send("license_deprovisioned.json", agreement_id=SECOND)  # they leave agmt-2
    states = [world.customer().state]
    world.at(hour(11, 10))
    used += world.units_taken("b", 5, hour(11, 10))
    world.at(hour(11, 20))
    world.send_stamped("ended_proposer.json", hour(11), agreement_id=SECOND)
    world.at(hour(11, 30))
    if renewal_late:
        world.send_stamped("created_proposer_renew.json", hour(10), agreement_id=first, renewal_agreement_id=SECOND)
        world.send_stamped("license_updated.json", hour(10), agreement_id=SECOND)
    world.at(hour(11, 40))
    used += world.units_taken("c", 6, hour(11, 40))
    states.append(world.customer().state)
    world.at(hour(14, 10))
    states.append(world.customer().state)
    return used, world.billed_hours(), states


def test_in_time_the_final_hour_is_taken() -> None:
    """Holds: the reference (agmt-2's events heard at once)."""
    used, billed, _ = _story(renewal_late=False)
    assert used == 13
    assert sum(billed.values()) == 13


def test_with_the_renewals_events_late_the_final_hour_is_still_taken() -> None:
    used, billed, states = _story(renewal_late=True)
    assert used == 13, f"only {used} of 13 units taken (states {states}): the final hour's usage refused"
    assert sum(billed.values()) == 13, f"billed {billed}"


def test_without_the_registration_too() -> None:
    """The same without the buyer registering on agmt-2: its Deprovisioned links it to the licence, and it holds the
    licence only from then."""
    used, billed, states = _story(renewal_late=True, registers=False)
    assert used == 13, f"only {used} of 13 units taken (states {states}): the final hour's usage refused"
    assert sum(billed.values()) == 13, f"billed {billed}"
