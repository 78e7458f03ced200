"""Attack 74: a legacy (SNS) buyer back on their customer identifier, their new subscribe-success still on its way
when their new unsubscribe-pending is heard, reads ``ending`` with the start of their FIRST subscription
(``subscribed_at`` 08:00): usage stamped in the gap between their two subscriptions is answered 200 and billed.

The buyer subscribes at 08:00 and registers, leaves at 09:00 (unsubscribe-pending), their unsubscribe-success comes
at 10:00 (``ended``). They are back at 12:00 (subscribe-success, stamped 12:00, delivered late) and leave again at
12:06; the 12:06 unsubscribe-pending is heard at 12:10, before the 12:00 subscribe-success (seed 162's order, on a
legacy identifier). Meanwhile ``buyer_times`` reads the pending as this subscription's, ``ending``, and ``_started``
finds no end before the latest activation heard (08:00): ``subscribed_at`` is 08:00. Usage stamped 10:30, while the
buyer was subscribed to nothing, is sent at 12:11: ingest's check compares it with 08:00 and takes it (the new rule of
97a5ffb, on ``registered_at``, applies only while no activation at all was heard). It goes into the next unsent hour
(a late event) and is billed with their final usage. 7 units billed that were never theirs.

Correct: usage stamped before the current subscription started is refused (422 naming the timestamp), or at least not
billed; the fix of seed 162 covers a buyer whose only start is unheard, not one whose latest start is."""

from __future__ import annotations

from datetime import datetime

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.usage.ingest import UsageRejected
from tests.unit.review23_world import ACCOUNT, IDENTIFIER, LEGACY, World, hour, legacy_sns

REF = CustomerRef(LEGACY.code, customer_identifier=IDENTIFIER)


def taken(world: World, stamp: datetime) -> int:
    event = {
        "event_id": "in-the-gap",
        "product_code": LEGACY.code,
        "customer_identifier": IDENTIFIER,
        "dimension": "calls",
        "quantity": 7,
        "timestamp": stamp.isoformat(),
    }
    try:
        return 7 * len(world.record(event).accepted)
    except UsageRejected:
        return 0


def test_usage_between_two_subscriptions_is_not_billed_while_the_return_is_unheard() -> None:
    world = World(product=LEGACY)
    now = world.clock.now()
    world.customers.upsert_registration(
        Customer(REF, ACCOUNT, SubscriptionState.PENDING, now, registered_at=now), "nonce-1"
    )
    legacy_sns(world, "subscription_subscribe-success.txt")  # 08:00
    world.at(hour(9))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")  # leaves at 09:00
    world.at(hour(10))
    legacy_sns(world, "subscription_unsubscribe-success.txt")  # ended at 10:00
    assert world.customers.get(REF).state is SubscriptionState.ENDED  # type: ignore[union-attr]

    # back at 12:00 (its subscribe-success late), leaves at 12:06: the pending heard first, at 12:10
    world.at(hour(12, 10))
    legacy_sns(world, "subscription_unsubscribe-pending.txt", at=hour(12, 6))
    gap = taken(world, hour(10, 30))  # usage stamped 10:30: subscribed to nothing then
    world.at(hour(12, 15))
    legacy_sns(world, "subscription_subscribe-success.txt", at=hour(12))
    customer = world.customers.get(REF)
    assert customer is not None

    world.at(hour(15))  # flushes and the final-usage step
    assert (gap, world.billed_hours()) == (0, {}), (
        f"usage stamped 10:30, between the subscription left at 09:00 and the one of 12:00: {gap} units answered 200, "
        f"billed {world.billed_hours()} (now subscribed_at {customer.subscribed_at:%H:%M})"
    )
