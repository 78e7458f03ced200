"""Attack 52 (on d8d259a; ``buyer_times``' "Ended of the last live agreement", unchanged since before 267f1c7). An
agreement's Purchase Agreement Ended opens the final hour only once *every* agreement linked to the licence has an
Ended (``all_ended``): meant for a renewal's replaced agreement, it also holds back the leave of a buyer back on their
licence whenever the Ended of the agreement they left *earlier* is late (EventBridge redelivery, a DLQ redrive).

The buyer (agmt-1, 10:00) leaves at 10:30 in AWS's 2026 order: agmt-1's License Deprovisioned at 10:30 (ENDING, then
ENDED by the step at 11:30); agmt-1's Ended (10:35) is delayed until 16:00. They come back on the same licence under
agmt-2 at 12:00 (Created, License Updated) and leave it at 13:00 in the seller guide's order: agmt-2's Ended at 13:00,
its Deprovisioned an hour later, at 14:00. With agmt-1's Ended heard in time, the 13:00 Ended opens their final hour:
cutoff 13:45, ended 14:00. Heard late, agmt-2's Ended opens nothing (agmt-1 is not "ended"): the buyer stays ACTIVE
until agmt-2's Deprovisioned at 14:00 opens the hour an hour late (cutoff 14:45, ended 15:00). Their usage from 13:00
to 14:45 is taken and sent after Marketplace ended their agreement (refused: money billed to nobody, or a buyer who
left charged for an hour they did not have), no final usage within their real final hour, and the state depends on
the delivery order of a *left* agreement's Ended (invariants 1, 3). Fails on 267f1c7 too (not new in d8d259a)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from functions.customers.model import SubscriptionState
from functions.lifecycle.notifications import parse_notification
from tests.aws_corpus import eventbridge_example
from tests.unit.test_lifecycle_rules import T0, Buyer, World, subscribed

SECOND = "agmt-0000000000000000000000002"


def _heard(world: World, buyer: Buyer, example: str, at: datetime, agreement_id: str) -> None:
    event = eventbridge_example(example, buyer.parties.with_(agreement_id=agreement_id), at=at)
    world.lifecycle.handle(parse_notification(json.dumps(event), message_id="m", sent_at=world.clock.now()))


def _at_one_oclock(first_ended_late: bool) -> tuple[SubscriptionState, datetime | None]:
    world, buyer = World(), Buyer()
    subscribed(world, buyer)  # agmt-1 at 10:00
    first = buyer.parties.agreement_id
    world.pass_time(30)
    _heard(world, buyer, "license_deprovisioned.json", world.clock.now(), first)  # 10:30 their leave of agmt-1
    world.pass_time(5)
    if not first_ended_late:
        _heard(world, buyer, "ended_proposer.json", world.clock.now(), first)  # 10:35 agmt-1's Ended
    world.pass_time(85)
    assert world.state(buyer) is SubscriptionState.ENDED
    _heard(world, buyer, "created_proposer_new.json", world.clock.now(), SECOND)  # 12:00 back under agmt-2
    _heard(world, buyer, "license_updated.json", world.clock.now(), SECOND)
    assert world.state(buyer) is SubscriptionState.ACTIVE
    world.pass_time(60)
    _heard(world, buyer, "ended_proposer.json", world.clock.now(), SECOND)  # 13:00 their leave of agmt-2
    customer = world.customers.get(buyer.ref)
    assert customer is not None
    return customer.state, customer.final_usage_cutoff


def test_a_late_ended_of_the_agreement_left_before_does_not_hide_the_leave_of_the_next() -> None:
    assert _at_one_oclock(first_ended_late=False) == (SubscriptionState.ENDING, T0 + timedelta(hours=3, minutes=45))
    state, cutoff = _at_one_oclock(first_ended_late=True)
    assert (state, cutoff) == (SubscriptionState.ENDING, T0 + timedelta(hours=3, minutes=45)), (
        f"{state}, cutoff {cutoff} after agmt-2's Ended at 13:00 (agmt-1's Ended, at 10:35, not heard yet)"
    )
