"""Attack 49: a buyer back before their first leave's final usage went out, whose second leave is heard late, gets the
first leave's cutoff again, already in the past: the final usage is sent at once, before usage accepted while they
read active has landed, and without the hour that usage stamped ahead went to.

``Lifecycle._set_cutoff`` keeps a stored cutoff whenever ``ending_since <= stored <= cutoff``, before the rules the
change relies on ("never set in the past", never before what usage accepted until the leave was heard may be stamped:
``FUTURE_SKEW``). With the default settings (cutoff 2,700 s, delay 90 s): a legacy buyer leaves at 10:00 (cutoff
10:45 stored), is back at 10:20 (subscribe-success; the 10:46:30 step finds them subscribed: nothing sent), and leaves
again at 10:30 (unsubscribe-pending; Marketplace takes their records until 11:30), a message we only hear at 10:58
(it failed and came back, as in attacks 47 and 48). Until then they read active: 4 calls accepted at 10:55 stamped
11:00 (``FUTURE_SKEW`` allows it) and 5 calls accepted at 10:57:58 whose write lands 30 s later (within the 60 s
in-flight margin) are answered 200. The second leave's cutoff is the stored 10:45 (10:30 <= 10:45 <= 11:15), its due
10:46:30 is past, so the final usage goes out at 10:58: hour 10:00 without the 5 calls still in flight, and not hour
11:00. The hourly flush keeps the record sent (the 5 calls never billed) and seals hour 11:00 at 12:06, after
Marketplace closed (CustomerNotSubscribed). 9 units lost (3 calls of 10:50 billed).

Correct: the second leave's cutoff is never before it was heard (plus ``FUTURE_SKEW`` while Marketplace takes their
records), its final usage waits for writes in flight, and every unit answered 200 is billed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from functions.customers.model import FINAL_USAGE_WINDOW, Customer, CustomerRef, SubscriptionState
from functions.lifecycle.notifications import parse_notification
from stacks.config import load_config
from tests.aws_corpus import sns_envelope, sns_message, sns_topic
from tests.unit.review23_world import IDENTIFIER, LEGACY, World, hour, legacy_sns, legacy_usage
from tests.unit.test_atk35_final_usage_after_the_final_hour import LeavingMarketplace, deployed
from tests.unit.test_atk35_final_usage_before_writes_in_flight_land import SlowWrites


def pending_stamped(world: World, at: datetime) -> None:
    """The buyer's unsubscribe-pending, sent by SNS at ``at``, delivered now."""
    example = "subscription_unsubscribe-pending.txt"
    message = sns_message(example, customer_identifier=IDENTIFIER, product_code=LEGACY.code)
    body = json.dumps(sns_envelope(message, sns_topic(example, LEGACY.code), at=at))
    world.lifecycle.handle(parse_notification(body, message_id="m-late", sent_at=at))


def test_a_late_second_leave_after_a_return_waits_for_usage_accepted_until_it_was_heard() -> None:
    products = [{"code": LEGACY.code, "name": LEGACY.name, "dimensions": [{"name": "calls"}]}]
    settings = load_config({"products": products}).settings
    assert (settings.final_usage_cutoff_seconds, settings.final_usage_delay_seconds) == (2700, 90)  # the defaults
    world = World(product=LEGACY, usage=SlowWrites, marketplace=LeavingMarketplace)
    usage, marketplace = world.usage, world.marketplace
    assert isinstance(usage, SlowWrites)
    assert isinstance(marketplace, LeavingMarketplace)
    deployed(world, settings)
    ref = CustomerRef(LEGACY.code, customer_identifier=IDENTIFIER)
    world.customers.put(Customer(ref, "845735284135", SubscriptionState.PENDING, world.clock.now()))
    legacy_sns(world, "subscription_subscribe-success.txt")  # 08:00

    # leaves at 10:00 (cutoff 10:45), back at 10:20: their 10:46:30 step finds them subscribed, sends nothing
    world.at(hour(10))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    world.at(hour(10, 20))
    legacy_sns(world, "subscription_subscribe-success.txt")
    world.at(hour(10, 50))
    customer = world.customers.get(ref)
    assert customer is not None
    assert customer.state is SubscriptionState.ACTIVE
    assert customer.final_usage_sent is None
    # reading active (their second leave, at 10:30, not heard yet): 3 calls at 10:50, 4 at 10:55 stamped 11:00
    assert world.record(legacy_usage(world, "u-1050", 3)).accepted == ("u-1050",)
    world.at(hour(10, 55))
    ahead = {**legacy_usage(world, "u-1100", 4), "timestamp": hour(11).isoformat()}
    assert world.record(ahead).accepted == ("u-1100",)
    marketplace.closes = hour(10, 30) + FINAL_USAGE_WINDOW

    # 5 calls accepted at 10:57:58, whose write lands 30 s later; the 10:30 leave is heard at 10:58 meanwhile
    def meanwhile() -> None:
        world.at(hour(10, 58))
        pending_stamped(world, hour(10, 30))
        world.at(hour(10, 58) + timedelta(seconds=28))

    world.at(hour(10, 57) + timedelta(seconds=58))
    usage.meanwhile = meanwhile
    assert world.record(legacy_usage(world, "u-1057", 5)).accepted == ("u-1057",)  # answered 200
    usage.meanwhile = None
    leaving = world.customers.get(ref)
    assert leaving is not None
    cutoff = leaving.final_usage_cutoff
    world.at(hour(14, 10))

    refused = sum(int(r.quantity) for r in marketplace.refused)
    assert sum(world.billed_hours().values()) == 12, (
        f"billed {world.billed_hours()}; {refused} refused CustomerNotSubscribed (second leave's cutoff "
        f"{cutoff:%H:%M:%S}, heard at 10:58: final usage sent at once, before the 10:57:58 write landed, up to hour "
        f"10:00 only)"
    )
