"""Attack 76: a licence buyer who left in the seller guide's order (Purchase Agreement Ended opens the final hour, the
License Deprovisioned closes it an hour later) and came back on their licence under a new agreement. Their earlier
subscription is an earlier term (``Customer.earlier_terms``) from its start to an hour after its leave, and the leave is
read from ``ends`` in ``buyer_times``: the licence's Deprovisioned times and only the Ended of the agreements holding
the licence at the *latest* Ended (``agreements_end``). While the new agreement has no Ended the left agreement's Ended
is that latest one and the term is right, 08:00-10:00. As soon as any later agreement of the licence has an Ended (the
buyer leaving again; or merely a renewal replacing the new agreement, whose Ended is no leave at all), the left
agreement's Ended drops out of ``ends``, its Deprovisioned at 10:00 is read as the leave, and the term becomes
08:00-11:00: usage stamped 10:00-11:00, when Marketplace held the buyer subscribed to nothing (they came back at 12:00),
is answered 200 and billed to them in an hour still open.

Broken: usage stamped between two subscriptions is never billed. The whole hour after the first subscription's final
hour (Ended + 1 h to Deprovisioned + 1 h: about an hour of the buyer's gap usage, as late events within 24 hours) is
billed; 7 units in each test."""

from __future__ import annotations

from functions.usage.ingest import UsageRejected
from tests.unit.review23_world import World, hour

SECOND = "agmt-0000000000000000000000002"
THIRD = "agmt-0000000000000000000000003"


def back_on_the_licence() -> World:
    """Subscribed 08:00 (agmt-1), left 09:00 (Ended: their final hour to 10:00), closed 10:00 (Deprovisioned), back
    at 12:00 on the same licence under agmt-2."""
    world = World()
    world.subscribe()
    first = world.parties.agreement_id
    world.at(hour(9))
    world.send("ended_proposer.json")
    world.at(hour(10))
    world.send("license_deprovisioned.json", agreement_id=first)
    world.at(hour(12))
    world.register_with(SECOND)
    world.send("created_proposer_new.json", agreement_id=SECOND)
    world.send("license_updated.json", agreement_id=SECOND)
    return world


def gap_units(world: World, event_id: str) -> int:
    """7 units stamped 10:30, between the first subscription's final hour (over at 10:00) and the return (12:00)."""
    try:
        return 7 * len(world.record(world.usage_event(event_id, 7, stamp=hour(10, 30))).accepted)
    except UsageRejected:
        return 0


def test_the_first_term_is_its_final_hour_while_the_second_runs() -> None:
    # the reading this change gives while agmt-2 has no Ended: correct, gap usage refused
    world = back_on_the_licence()
    world.at(hour(12, 30))
    assert world.customer().earlier_terms == ((hour(8), hour(10)),)
    assert gap_units(world, "gap-while-active") == 0


def test_gap_usage_is_not_billed_once_the_buyer_leaves_again() -> None:
    world = back_on_the_licence()
    world.at(hour(13))
    world.send("ended_proposer.json", agreement_id=SECOND)  # they leave agmt-2: their final hour 13:00-14:00
    world.at(hour(13, 10))
    terms = world.customer().earlier_terms
    answered = gap_units(world, "gap-in-the-second-final-hour")
    world.at(hour(16))
    # on atk76: terms 08:00-11:00, 7 answered 200 and billed in hour 13
    assert (terms, answered, world.billed_hours()) == (((hour(8), hour(10)),), 0, {}), "gap usage billed"


def test_gap_usage_is_not_billed_once_the_new_agreement_is_renewed() -> None:
    world = back_on_the_licence()
    world.at(hour(13))  # agmt-3 renews agmt-2: agmt-2's Ended is no leave, the buyer stays subscribed
    world.send("created_proposer_renew.json", agreement_id=SECOND, renewal_agreement_id=THIRD)
    world.send("ended_proposer.json", agreement_id=SECOND)
    world.send("license_updated.json", agreement_id=THIRD)
    world.at(hour(13, 10))
    terms = world.customer().earlier_terms
    answered = gap_units(world, "gap-after-the-renewal")
    world.at(hour(16))
    # on atk76: terms 08:00-11:00, 7 answered 200 and billed in hour 13
    assert (terms, answered, world.billed_hours()) == (((hour(8), hour(10)),), 0, {}), "gap usage billed"
