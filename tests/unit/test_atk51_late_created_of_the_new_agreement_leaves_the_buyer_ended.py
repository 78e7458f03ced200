"""Attack 51 (on 1a200c4, ``_closes_a_left_agreement``'s named branch and the final-usage step's end). Whether a
License Deprovisioned naming agmt-1 is agmt-1's close or the buyer's leave is decided by whether another agreement's
*Purchase Agreement Created* is later than agmt-1's; the License Updated that names the new agreement (and links it to
the licence) counts for nothing. When the Created is late, the Deprovisioned reads as a leave, the final-usage step
records the buyer ENDED an hour later, and that end is kept on the licence: the Created, once it comes, turns the
Deprovisioned back into a close, but the step's end still ends them (``licence.ended``, newer than every activation).

The buyer (agmt-1, 10:00) leaves in the seller guide's order: agmt-1's Ended at 11:00, its close (License
Deprovisioned naming agmt-1) at 12:00. At 11:10 they come back on the same licence under agmt-2: its License Updated
(naming agmt-2) arrives, its Purchase Agreement Created (time 11:10) is delayed (EventBridge redelivery, or a
failed message redriven from the DLQ) until 14:00. Delivered in time, the same events leave them ACTIVE on agmt-2.
Delivered so, agmt-1's close at 12:00 is read as their leave (ENDING), the step ends them at 13:00, and when agmt-2's
Created arrives they stay ENDED for ever on a live agreement: every record of usage refused "subscription ended"
(revenue lost), a Customer Ended announced to the seller's systems, and nothing but a new activation undoes it
(invariants 1, 2, 4: the state depends on arrival order; a buyer back on a live agreement ended by an earlier
agreement's event). Not new in 1a200c4 (times alone read it so too), but its named branch, told which agreement the
Deprovisioned closes, still decides by the Created alone."""

from __future__ import annotations

import json
from datetime import datetime

from functions.customers.model import SubscriptionState
from functions.lifecycle.notifications import parse_notification
from tests.aws_corpus import eventbridge_example
from tests.unit.test_lifecycle_rules import Buyer, World, subscribed

SECOND = "agmt-0000000000000000000000002"


def _live(created_late: bool) -> SubscriptionState:
    world, buyer = World(), Buyer()
    subscribed(world, buyer)  # agmt-1 at 10:00
    first = buyer.parties.agreement_id
    world.pass_time(60)
    world.send(buyer, "ended_proposer.json")  # 11:00 agmt-1's Ended
    world.pass_time(10)
    back: datetime = world.clock.now()
    world.send(buyer, "license_updated.json", agreement_id=SECOND)  # 11:10 back on the licence under agmt-2
    if not created_late:
        world.send(buyer, "created_proposer_new.json", agreement_id=SECOND)
    world.pass_time(50)
    world.send(buyer, "license_deprovisioned.json", agreement_id=first)  # 12:00 agmt-1's close
    world.pass_time(120)
    if created_late:  # 14:00 agmt-2's Created, sent at 11:10
        event = eventbridge_example("created_proposer_new.json", buyer.parties.with_(agreement_id=SECOND), at=back)
        world.lifecycle.handle(parse_notification(json.dumps(event), message_id="m", sent_at=back))
    world.pass_time(600)
    return world.state(buyer)


def test_a_late_created_of_the_agreement_they_came_back_on_leaves_them_active() -> None:
    in_time, late = _live(created_late=False), _live(created_late=True)
    assert in_time is SubscriptionState.ACTIVE
    assert late is SubscriptionState.ACTIVE, f"the same events, agmt-2's Created late: {late} on a live agreement"
