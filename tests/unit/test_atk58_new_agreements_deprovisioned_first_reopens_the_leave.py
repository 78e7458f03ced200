"""Attack 58 (on fa4529a): seed 73501's story, but what reaches us first of agmt-2 is its License Deprovisioned.

A buyer leaves agmt-1 (its Ended at 10:00, its License Deprovisioned at 11:00; the final-usage step ends them then).
They come back on the same licence under agmt-2 at 11:20, register at 11:22 (the registration links agmt-2), and leave
again at 11:30. agmt-2's License Deprovisioned (11:30) is delivered at once; its Ended (11:30) at 11:35; its Created and
License Updated (11:20) late, at 12:00 (EventBridge's 0-3 hours). At 11:32 the buyer's systems send usage stamped 11:15
(from the gap between the two subscriptions: not theirs to pay) and 11:25 (theirs).

fa4529a makes an agreement of which nothing was heard hold nothing, but one of which only a Deprovisioned (or an Ended)
was heard holds the licence "its start unknown", at every time. So agmt-2's Deprovisioned alone does what the
registration did in seed 73501: agmt-1's close at 11:00 is no longer a close (nothing took the licence from agmt-1),
it reads as the buyer's leave, the buyer is ``ending`` from 11:00 again with a cutoff at 11:45, and the gap usage
stamped 11:15 is answered 200 and billed (invariant 1). Heard in time (agmt-2's License Updated before its
Deprovisioned) the same usage is refused as before the subscription started (invariant 3: the answer depends on arrival
order). The fix covered one way for a silent agreement to reopen a closed leave, not the next event of that agreement.
Not new in fa4529a (its parent bills the same 9 units), and the registration is not needed (the Deprovisioned links
agmt-2 to the licence itself): fa4529a's class of bug, left open. Money: the gap's usage, up to the final hour's 45
minutes of it, billed to a buyer who was not subscribed.
"""

from __future__ import annotations

import json
from datetime import datetime

from functions.customers.model import Customer, SubscriptionState
from functions.lifecycle.notifications import parse_notification
from functions.usage.ingest import UsageRejected
from tests.aws_corpus import eventbridge_example
from tests.unit.review23_world import ACCOUNT, World, hour

SECOND = "agmt-0000000000000000000000002"


def _send_stamped(world: World, example: str, at: datetime, **names: str) -> None:
    event = eventbridge_example(example, world.parties.with_(**names), at=at)
    world.lifecycle.handle(parse_notification(json.dumps(event), message_id="m", sent_at=world.clock.now()))


def _accepted(world: World, event_id: str, quantity: int, stamp: datetime) -> int:
    try:
        return quantity * len(world.record(world.usage_event(event_id, quantity, stamp=stamp)).accepted)
    except UsageRejected:
        return 0


def _story(*, new_agreements_activation_late: bool) -> tuple[int, int, dict[datetime, int]]:
    world = World()
    world.subscribe()  # agmt-1, 08:00
    first = world.parties.agreement_id
    world.at(hour(10))
    world.send("ended_proposer.json")
    world.at(hour(11))
    world.send("license_deprovisioned.json", agreement_id=first)
    assert world.customer().state is SubscriptionState.ENDED
    world.at(hour(11, 20))
    if not new_agreements_activation_late:
        world.send("license_updated.json", agreement_id=SECOND)
        world.send("created_proposer_new.json", agreement_id=SECOND)
    world.at(hour(11, 22))
    world.customers.upsert_registration(
        Customer(world.ref, ACCOUNT, SubscriptionState.PENDING, world.clock.now(), agreement_id=SECOND), "n2"
    )
    world.at(hour(11, 30))
    world.send("license_deprovisioned.json", agreement_id=SECOND)  # they leave agmt-2
    world.at(hour(11, 32))
    gap = _accepted(world, "gap", 9, hour(11, 15))
    own = _accepted(world, "own", 4, hour(11, 25))
    world.at(hour(11, 35))
    world.send("ended_proposer.json", agreement_id=SECOND)
    world.at(hour(12))
    if new_agreements_activation_late:
        _send_stamped(world, "license_updated.json", hour(11, 20), agreement_id=SECOND)
        _send_stamped(world, "created_proposer_new.json", hour(11, 20), agreement_id=SECOND)
    world.at(hour(15, 10))
    return gap, own, world.billed_hours()


def test_in_time_the_gap_usage_is_refused() -> None:
    """Holds: the reference reading (agmt-2's activation heard before its Deprovisioned)."""
    gap, own, billed = _story(new_agreements_activation_late=False)
    assert gap == 0
    assert sum(billed.values()) == own


def test_with_the_new_agreements_activation_late_the_gap_usage_is_not_billed() -> None:
    gap, own, billed = _story(new_agreements_activation_late=True)
    assert gap == 0, "usage stamped between the two subscriptions was answered 200"
    assert sum(billed.values()) == own, f"billed {billed}: not what they used in their subscription ({own})"
