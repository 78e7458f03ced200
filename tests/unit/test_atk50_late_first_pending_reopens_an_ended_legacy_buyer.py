"""Attack 50: a legacy buyer ended by an unsubscribe-success (cutoff ``now``, final usage sent with it) turns
``ending`` again when an earlier leave's unsubscribe-pending arrives late and takes that success; 4346e4f then moves
the used cutoff 25 minutes later, and usage answered 200 meanwhile is refused by Marketplace.

The pairing (``subscription._closes``): successes close the earliest pending still open within two hours before
them. With the defaults (cutoff 2,700 s, delay 90 s): a legacy buyer subscribed at 08:00 leaves at 10:00 (the
pending's message fails and comes back late), is back at 10:20 (subscribe-success) and leaves again at 10:30
(unsubscribe-pending: ``ending``, cutoff 11:15). Their unsubscribe-success comes at 10:50: it closes the 10:30
pending, the buyer is ``ended``, Marketplace takes no more of their records, the cutoff is 10:50 and their final usage
is sent at 10:51:30 (``final_usage_sent`` 10:50). The 10:00 pending arrives at 10:55: the 10:50 success now closes it
instead, the 10:30 pending is open again and the buyer reads ``ending`` since 10:30. ``_set_cutoff`` keeps a stored
cutoff only from the planned one (11:15) on, so the used 10:50 is replaced by 11:15 (before 4346e4f it was kept:
10:30 <= 10:50). 7 calls at 11:05 are answered 200 (billed in hour 11:00, after the hour sent); the final usage at
11:16:30 is answered CustomerNotSubscribed. 7 units lost.

Which leave the success closes is ambiguous (docs/metering.md rule 5 takes the first); but the cutoff already used
to send the final usage when Marketplace had closed the hour need not move later. Correct: usage after it is refused
(4xx), or every unit answered 200 is billed."""

from __future__ import annotations

import json
from datetime import datetime

from functions.customers.model import SubscriptionState
from functions.lifecycle.notifications import parse_notification
from functions.usage.ingest import UsageRejected
from tests.aws_corpus import sns_envelope, sns_message, sns_topic
from tests.unit.review23_world import (
    IDENTIFIER,
    LEGACY,
    World,
    hour,
    legacy_sns,
    legacy_subscribed,
    legacy_usage,
)
from tests.unit.test_atk35_final_usage_after_the_final_hour import LeavingMarketplace


def pending_stamped(world: World, at: datetime) -> None:
    """The buyer's unsubscribe-pending, sent by SNS at ``at``, delivered now."""
    example = "subscription_unsubscribe-pending.txt"
    message = sns_message(example, customer_identifier=IDENTIFIER, product_code=LEGACY.code)
    body = json.dumps(sns_envelope(message, sns_topic(example, LEGACY.code), at=at))
    world.lifecycle.handle(parse_notification(body, message_id="m-late", sent_at=at))


def test_a_late_earlier_pending_never_moves_a_used_cutoff_later() -> None:
    world = World(product=LEGACY, marketplace=LeavingMarketplace)
    marketplace = world.marketplace
    assert isinstance(marketplace, LeavingMarketplace)
    ref = legacy_subscribed(world)  # 08:00

    # leaves at 10:00 (not heard yet), back at 10:20, leaves again at 10:30
    world.at(hour(10, 20))
    legacy_sns(world, "subscription_subscribe-success.txt")
    world.at(hour(10, 30))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    # their unsubscribe-success at 10:50: Marketplace takes no more of their records
    world.at(hour(10, 50))
    legacy_sns(world, "subscription_unsubscribe-success.txt")
    marketplace.closes = hour(10, 50)
    customer = world.customers.get(ref)
    assert customer is not None
    assert customer.state is SubscriptionState.ENDED
    world.at(hour(10, 55))
    sent = world.customers.get(ref)
    assert sent is not None
    assert sent.final_usage_sent == hour(10, 50)  # sent with the cutoff 10:50

    # the 10:00 pending arrives at 10:55
    pending_stamped(world, hour(10))
    moved = world.customers.get(ref)
    assert moved is not None

    # 7 calls at 11:05
    world.at(hour(11, 5))
    try:
        answered = 7 * len(world.record(legacy_usage(world, "u-1105", 7)).accepted)
    except UsageRejected:
        answered = 0  # refused (4xx): nothing promised
    world.at(hour(13, 10))

    billed = sum(world.billed_hours().values())
    refused = sum(int(r.quantity) for r in marketplace.refused)
    assert billed == answered, (
        f"answered 200 for {answered} units, billed {billed}; {refused} refused CustomerNotSubscribed (the used "
        f"cutoff 10:50 moved to {moved.final_usage_cutoff:%H:%M:%S}, the buyer {moved.state})"
    )
