"""Attack 72 (on 6eaaccc), invariants 3 and 4: a subscribed buyer is told ended because two SNS messages crossed by
seconds. A legacy buyer leaves at 10:00, is back at 10:10, leaves again at 10:25 and is back again at 10:59:58 (they
stay). SNS delivers that subscribe-success at 11:00:05; the first leave's unsubscribe-success, stamped 11:00:00.250
(on time, not to the millisecond), is delivered first. With the messages then seen, 6eaaccc skips the 10:00 pending
(the buyer came back from it) and closes the 10:25 one: ENDED, "Customer Ended" published (the seller's systems
offboard them), cutoff moved to 11:00 and final usage sent. Five seconds later they read ACTIVE again: the end was a
delivery order, not a fact (a subscribed buyer announced ended, then activated). Before 6eaaccc the success closed the
10:00 pending, the buyer read ENDING (cutoff 11:10) for those seconds and nothing was published. Correct: no "Customer
Ended" for a buyer who never stopped being subscribed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from functions.customers.model import SubscriptionState
from functions.lifecycle.notifications import parse_notification
from functions.lifecycle.service import CUSTOMER_ENDED
from functions.seller_events import RecordingPublisher
from tests.aws_corpus import sns_envelope, sns_message, sns_topic
from tests.unit.review23_world import (
    IDENTIFIER,
    LEGACY,
    World,
    back_and_leaving_again,
    hour,
)


def stamped(world: World, example: str, at: datetime) -> None:
    """AWS's SNS message ``example``, stamped ``at``, delivered now."""
    message = sns_message(example, customer_identifier=IDENTIFIER, product_code=LEGACY.code)
    body = json.dumps(sns_envelope(message, sns_topic(example, LEGACY.code), at=at))
    world.lifecycle.handle(parse_notification(body, message_id=f"m-{at.isoformat()}", sent_at=at))


def test_no_customer_ended_for_a_buyer_who_came_back() -> None:
    world = World(product=LEGACY)
    publisher = world.lifecycle.publisher
    assert isinstance(publisher, RecordingPublisher)
    ref = back_and_leaving_again(world)  # 08:00; leaves 10:00, back 10:10, leaves again 10:25
    world.at(hour(11) + timedelta(milliseconds=400))
    stamped(world, "subscription_unsubscribe-success.txt", hour(11) + timedelta(milliseconds=250))  # the 10:00 leave's
    world.at(hour(11) + timedelta(seconds=5))
    stamped(world, "subscription_subscribe-success.txt", hour(10, 59) + timedelta(seconds=58))  # back, heard now
    world.at(hour(12, 10))

    customer = world.customers.get(ref)
    assert customer is not None
    assert customer.state is SubscriptionState.ACTIVE
    ended = [e.detail["state_changed_at"] for e in publisher.events if e.detail_type == CUSTOMER_ENDED]
    assert ended == [], f"Customer Ended published at {ended} for a buyer subscribed since 10:59:58"
