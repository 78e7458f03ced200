"""Attack 76 on attack 74's fix: a legacy buyer back under their customer identifier, their subscribe-success still on
its way when their next unsubscribe-pending is heard. The start of the subscription they came back to is unheard, and
``Customer.first_seen_subscribed`` takes their registration as the first moment known to fall in it, unless it came
no later than their leave of the subscription before (``registered <= subscribed_after``). But a buyer may register
after that leave's unsubscribe-pending and before its close: they subscribed at 08:00, unsubscribed at 08:10 with the
sign-up page still open, and finished registering at 08:15 (registration keeps the first time, so 08:15 stays). That
registration is their first subscription's, in its final hour; read as the unheard subscription's, it makes
``usage_from`` 08:10 (08:15 less five minutes, no earlier than the leave), and every stamp from 08:10 on is taken as
theirs: usage stamped between the first subscription's close (09:10) and their return (12:00) is answered 200 and
billed, which the fix exists to refuse (docs/metering.md rule 6: refused until AWS says when they came back); and the
final-usage step, placing carries from ``usage_from``, bills their final hour's carry in the gap's hours.

Broken: usage stamped between two subscriptions is never billed to the buyer. The whole gap is open: every unit a
producer stamps between the two subscriptions (here 09:10-12:00, 2 h 50 min) and sends while the return is unheard:
14 units in the first test; and a leaving buyer's whole carry, 1,852,516,353 units in the second, billed in an hour
of the gap instead of parked (CarriedPastEnd) as attack 74's carry test requires."""

from __future__ import annotations

import json
from datetime import datetime

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.lifecycle.notifications import parse_notification
from functions.usage.ingest import UsageRejected
from tests.aws_corpus import sns_envelope, sns_message, sns_topic
from tests.unit.review23_world import ACCOUNT, IDENTIFIER, LEGACY, World, hour, legacy_sns

REF = CustomerRef(LEGACY.code, customer_identifier=IDENTIFIER)


def sns_stamped(world: World, example: str, at: datetime) -> None:
    """AWS's SNS message ``example`` for the legacy buyer, sent at ``at``, delivered now."""
    message = sns_message(example, customer_identifier=IDENTIFIER, product_code=LEGACY.code)
    body = json.dumps(sns_envelope(message, sns_topic(example, LEGACY.code), at=at))
    world.lifecycle.handle(parse_notification(body, message_id=f"m-{at.isoformat()}", sent_at=at))


def gap_units(world: World, event_id: str, quantity: int, stamp: datetime) -> int:
    try:
        taken = world.record(
            {
                "event_id": event_id,
                "product_code": LEGACY.code,
                "customer_identifier": IDENTIFIER,
                "dimension": "calls",
                "quantity": quantity,
                "timestamp": stamp.isoformat(),
            }
        ).accepted
    except UsageRejected:
        return 0
    return quantity * len(taken)


def test_gap_usage_is_refused_though_they_registered_after_their_first_leave() -> None:
    world = World(product=LEGACY)
    legacy_sns(world, "subscription_subscribe-success.txt")  # subscribed 08:00
    world.at(hour(8, 10))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")  # left 08:10: Marketplace takes theirs until 09:10
    world.at(hour(8, 15))  # they finish registering, in that final hour
    now = world.clock.now()
    world.customers.upsert_registration(
        Customer(REF, ACCOUNT, SubscriptionState.PENDING, now, registered_at=now), "nonce-1"
    )
    world.at(hour(9, 10))
    legacy_sns(world, "subscription_unsubscribe-success.txt")
    # back at 12:00, that subscribe-success on its way; leaving at 12:06, the pending heard at 12:10
    world.at(hour(12, 10))
    sns_stamped(world, "subscription_unsubscribe-pending.txt", hour(12, 6))
    customer = world.customers.get(REF)
    assert customer is not None
    assert (customer.subscribed_after, customer.subscribed_by) == (hour(8, 10), hour(12, 6))

    answered = gap_units(world, "gap-1000", 7, hour(10)) + gap_units(world, "gap-1130", 7, hour(11, 30))
    world.at(hour(12, 40))
    sns_stamped(world, "subscription_subscribe-success.txt", hour(12))  # AWS says: back at 12:00
    world.at(hour(15))
    # on atk76: usage_from 08:10, both answered 200 and billed in their final hour, 12:00
    assert (answered, world.billed_hours()) == (0, {}), "usage from between their two subscriptions billed"


def test_a_leaving_buyers_carry_is_not_placed_in_the_gap_though_they_registered_after_their_first_leave() -> None:
    # as attack 74's carry test (test_unheard_return_bounds_usage), the registration in the first final hour: the
    # final-usage step places what their final hour carries on from hour_of(usage_from) = 08:00, so into the hours
    # of the gap (10:00, 11:00), sealed with no record of theirs, latest first
    world = World(product=LEGACY)
    legacy_sns(world, "subscription_subscribe-success.txt")
    world.at(hour(8, 10))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    world.at(hour(8, 15))
    now = world.clock.now()
    world.customers.upsert_registration(
        Customer(REF, ACCOUNT, SubscriptionState.PENDING, now, registered_at=now), "nonce-1"
    )
    world.at(hour(9, 10))
    legacy_sns(world, "subscription_unsubscribe-success.txt")
    world.at(hour(12, 10))
    sns_stamped(world, "subscription_unsubscribe-pending.txt", hour(12, 6))
    world.at(hour(12, 11))
    assert gap_units(world, "big-1", 2_000_000_000, hour(12, 8)) + gap_units(world, "big-2", 2_000_000_000, hour(12, 8))
    world.at(hour(15))  # the final-usage step: hour 12 carries 1,852,516,353 units on
    gap = {h: q for h, q in world.billed_hours().items() if hour(10) <= h < hour(12)}
    # on atk76: the whole carry, 1,852,516,353 units, billed in the hour of 11:00, when they were subscribed to nothing
    assert gap == {}, "a carry billed in the hours between their two subscriptions"
