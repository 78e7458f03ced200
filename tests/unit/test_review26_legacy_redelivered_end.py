"""Review of issue 26: the simulator no longer draws a legacy buyer back while an earlier subscription of the account
is still subscribed (Marketplace gives an account one customer identifier, subscribed once at a time). What it still
sends, and what our lifecycle must still handle, is SNS delivering the earlier subscription's notifications again,
late (at-least-once delivery: the same message, with its original Timestamp), after the buyer subscribed again."""

from __future__ import annotations

import json
from datetime import datetime

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.lifecycle.notifications import parse_notification
from tests.aws_corpus import sns_envelope, sns_message, sns_topic
from tests.unit.review23_world import IDENTIFIER, LEGACY, World, hour, legacy_sns, legacy_usage


def _redelivered(world: World, example: str, sent: datetime, message_id: str) -> None:
    """AWS's example ``example`` published at ``sent`` and delivered again now, as SNS redelivers it."""
    message = sns_message(example, customer_identifier=IDENTIFIER, product_code=LEGACY.code)
    body = json.dumps(sns_envelope(message, sns_topic(example, LEGACY.code), at=sent))
    world.lifecycle.handle(parse_notification(body, message_id=message_id, sent_at=sent))


def test_an_ended_subscriptions_notifications_delivered_again_do_not_end_the_buyer_subscribed_again() -> None:
    world = World(product=LEGACY)
    ref = CustomerRef(LEGACY.code, customer_identifier=IDENTIFIER)
    world.customers.put(Customer(ref, "845735284135", SubscriptionState.PENDING, world.clock.now()))
    legacy_sns(world, "subscription_subscribe-success.txt")  # 08:00
    world.at(hour(9))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    world.at(hour(10))
    legacy_sns(world, "subscription_unsubscribe-success.txt")  # the first subscription over
    world.at(hour(11))
    legacy_sns(world, "subscription_subscribe-success.txt")  # back, under the same identifier
    world.at(hour(11, 30))
    # the first subscription's end, delivered again half an hour into the second
    _redelivered(world, "subscription_unsubscribe-pending.txt", hour(9), "again-pending")
    _redelivered(world, "subscription_unsubscribe-success.txt", hour(10), "again-success")
    customer = world.customers.get(ref)
    assert customer is not None
    assert customer.state is SubscriptionState.ACTIVE, f"a subscribed buyer is {customer.state}"
    assert world.record(legacy_usage(world, "after-redelivery", 4)).accepted == ("after-redelivery",)
    world.at(hour(13))
    assert world.billed_hours().get(hour(11)) == 4  # billed in the hour it was used
