"""Attack 52 (on d8d259a, change 4: a licence's ends are only the final-usage step's stamps, each ending only the leave
it was stamped an hour after). A late activation can move the buyer's final hour *later* after the step stamped the
earlier one over: the stamp no longer ends anyone, the buyer reads ENDING again, and nothing schedules the step that
would stamp the new hour's end. ``_begin_ending`` schedules it only for an ending/ended event or a changed cutoff; the
event is a License Updated (ACTIVATED), and the cutoff stays (the stored one was used, 11:45, and lies between the new
hour's opening, 11:30, and its plan). The buyer is ENDING for ever.

The buyer (agmt-1, 10:00) leaves at 11:00 in AWS's 2026 order (License Deprovisioned, then Ended at 11:05), comes back
on the same licence at 11:20 under agmt-2 and leaves it at 11:30 (its Deprovisioned, its Ended at 11:35). agmt-2's
License Updated and Created (11:20) are delayed (EventBridge redelivery / DLQ redrive) until 13:25. Heard in time, the
same events end the buyer at 12:30. Heard so: agmt-2's Deprovisioned links agmt-2 but, with no activation of it known,
the 11:00 leave is still the buyer's current one; the step sends the final usage (cutoff 11:45) and stamps the end at
12:00, Customer Ended is announced. The late License Updated then makes 11:00 an earlier subscription's leave: the
buyer reads ENDING since 11:30, the 12:00 stamp ends nothing (not 11:30 + 1 h), no timer runs, and they stay ENDING
for ever: invariant 1 (the state depends on arrival order) and invariant 2 (never ENDING for ever): the operator's
views and every later read show a leaving buyer whose hour ended long ago, and their end is never recorded or
announced for the subscription they actually left. On 267f1c7 (the licence's latest end, if current, ended the buyer)
the 12:00 stamp, after the 11:20 return, still ended them: this passes there."""

from __future__ import annotations

import json
from datetime import datetime

from functions.customers.model import SubscriptionState
from functions.lifecycle.notifications import parse_notification
from tests.aws_corpus import eventbridge_example
from tests.unit.test_lifecycle_rules import Buyer, World, subscribed

SECOND = "agmt-0000000000000000000000002"


def _heard_late(world: World, buyer: Buyer, example: str, at: datetime) -> None:
    event = eventbridge_example(example, buyer.parties.with_(agreement_id=SECOND), at=at)
    world.lifecycle.handle(parse_notification(json.dumps(event), message_id="m", sent_at=at))


def _life(return_heard_late: bool) -> tuple[SubscriptionState, SubscriptionState]:
    world, buyer = World(), Buyer()
    subscribed(world, buyer)  # agmt-1 at 10:00
    world.pass_time(60)
    world.send(buyer, "license_deprovisioned.json")  # 11:00 their leave of agmt-1, Deprovisioned first
    world.pass_time(5)
    world.send(buyer, "ended_proposer.json")  # 11:05 agmt-1's Ended
    world.pass_time(15)
    back = world.clock.now()  # 11:20 back on the licence under agmt-2
    if not return_heard_late:
        _heard_late(world, buyer, "license_updated.json", back)
        _heard_late(world, buyer, "created_proposer_new.json", back)
    world.pass_time(10)
    world.send(buyer, "license_deprovisioned.json", agreement_id=SECOND)  # 11:30 their leave of agmt-2
    world.pass_time(5)
    world.send(buyer, "ended_proposer.json", agreement_id=SECOND)  # 11:35 agmt-2's Ended
    world.pass_time(110)  # 13:25: every timer of these leaves has run
    if return_heard_late:
        _heard_late(world, buyer, "license_updated.json", back)
        _heard_late(world, buyer, "created_proposer_new.json", back)
    after_return = world.state(buyer)
    world.pass_time(24 * 60)
    return after_return, world.state(buyer)


def test_a_late_return_heard_after_the_stamp_still_ends_the_buyer() -> None:
    assert _life(return_heard_late=False)[1] is SubscriptionState.ENDED
    after_return, a_day_later = _life(return_heard_late=True)
    assert a_day_later is SubscriptionState.ENDED, (
        f"{after_return} once agmt-2's return was heard, {a_day_later} a day later: their hour ended at 12:30"
    )
