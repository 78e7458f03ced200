"""Attack 59 (on ea24097, ``_leave_closed`` + ``_holds_at``): the left agreement's close ends a buyer who is back.

A buyer leaves agmt-1 (its Purchase Agreement Ended, 10:00). Within their final hour, at 10:20, they come back on the
same licence under agmt-2 and register at 10:22 with its token (the registration links agmt-2: the buyer's agreement
now, as ResolveCustomer says). agmt-2's License Updated and Created (10:20) are late: delivered at 12:00 (EventBridge's
0-3 hours). agmt-1's close, the License Deprovisioned naming it, comes at 11:00 in the seller guide's order.

From 10:22 to 11:00 the registered agmt-2 holds the licence (ea24097: a renewal whose events are late) and the buyer
reads ACTIVE. agmt-1's Deprovisioned at 11:00 makes ``_leave_closed`` true, and the registered agmt-2 then holds
nothing: agmt-1's Ended reads as the buyer's leave again, closed at 11:00, and the buyer is ENDED at 11:00, Customer
Ended announced (the seller's systems deprovision the tenant) and their usage refused ("subscription ended") until
agmt-2's events come. Heard in time (agmt-2's License Updated at 10:20) the same events keep them ACTIVE throughout
(invariant 3; invariant 4: nobody on a live agreement is ended). Money: the live buyer's usage from 11:00 until the
late events come, refused (here 7 units; up to three hours of it), and a wrongful Customer Ended.

Not new in kind: fa4529a^ read agmt-1's close as the buyer's leave (ENDING at 11:00), fa4529a as ENDING from agmt-1's
Ended; ea24097 is the first to turn a buyer it read ACTIVE into ENDED on the left agreement's close.
"""

from __future__ import annotations

from datetime import datetime

from functions.customers.model import SubscriptionState
from functions.lifecycle.service import CUSTOMER_ENDED
from tests.unit.review23_world import World, hour

SECOND = "agmt-0000000000000000000000002"


def _story(*, back_late: bool) -> tuple[int, list[SubscriptionState], list[str], dict[datetime, int]]:
    world = World()
    world.subscribe()  # agmt-1, 08:00
    first = world.parties.agreement_id
    world.at(hour(10))
    world.send("ended_proposer.json")  # they leave agmt-1
    world.at(hour(10, 20))
    if not back_late:
        world.send("license_updated.json", agreement_id=SECOND)
        world.send("created_proposer_new.json", agreement_id=SECOND)
    world.at(hour(10, 22))
    world.register_with(SECOND)
    states = [world.customer().state]
    world.at(hour(11))
    world.send("license_deprovisioned.json", agreement_id=first)  # agmt-1's close
    states.append(world.customer().state)
    world.at(hour(11, 30))
    used = world.units_taken("a", 7, hour(11, 30))
    world.at(hour(12))
    if back_late:
        world.send_stamped("license_updated.json", hour(10, 20), agreement_id=SECOND)
        world.send_stamped("created_proposer_new.json", hour(10, 20), agreement_id=SECOND)
    states.append(world.customer().state)
    world.at(hour(12, 30))
    used += world.units_taken("b", 3, hour(12, 30))
    world.at(hour(15, 10))
    announced = [e.detail_type for e in world.lifecycle.publisher.events]  # type: ignore[attr-defined]
    return used, states, announced, world.billed_hours()


def test_in_time_the_buyer_back_stays_active() -> None:
    """Holds: the reference."""
    used, states, announced, billed = _story(back_late=False)
    assert states == [SubscriptionState.ACTIVE] * 3
    assert CUSTOMER_ENDED not in announced
    assert used == 10
    assert sum(billed.values()) == 10


def test_the_left_agreements_close_does_not_end_a_buyer_registered_back() -> None:
    used, states, announced, billed = _story(back_late=True)
    assert states == [SubscriptionState.ACTIVE] * 3, f"states at 10:22, 11:00, 12:00: {states}"
    assert CUSTOMER_ENDED not in announced, "Customer Ended announced for a buyer back on the licence"
    assert used == 10, f"only {used} of 10 units taken"
    assert sum(billed.values()) == 10
