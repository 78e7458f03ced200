"""Attack 73 (on a2288e9): the cutoff stored by a leave the buyer came back from before its final usage was sent is
kept for their next leave, though it is before the hour their usage was moved to: that usage goes out after
Marketplace stopped taking their records.

A legacy buyer, ``final_usage_cutoff_seconds`` 0 (valid: 0..3300; synth checks only cutoff + delay + 300 < 3600):
used 3 calls at 09:10, leaves at 09:58 (unsubscribe-pending; cutoff 10:03, five minutes of stamps ahead); their
final usage goes out at 10:04:30 (hour 10 sent early for them, ``final_usage_sent`` 10:03). Back at 10:05
(subscribe-success), they use 2 calls (billed in 11:00, ``after_final_usage``) and leave at 10:05:30: too early in
hour 10 for the next hour to fit (the documented open case), cutoff 10:10:30. Back again at 10:06, they use 5 calls
at 10:06:30 (billed in 11:00: 200) and leave at 10:07. This leave's final hour runs to 11:07 and the change's rule
(``Lifecycle._moved_to``) gives a cutoff of 11:00 (it fits: ``latest`` is 11:01). But ``_set_cutoff`` keeps the stored
10:10:30 of the leave at 10:05:30, as it lies between this leave's planned cutoff (10:07) and the computed one
(11:00): the final hour stays 10:00, the final-usage step at 10:12 sends nothing for 11:00, and the hourly flush sends
the 7 calls at 12:06, after Marketplace closed at 11:07 (CustomerNotSubscribed). 7 units answered 200, never billed.

Not introduced by the change (its parent keeps the same 10:10:30 and loses the same units), but the change's
promise (docs/metering.md, step 3: "their cutoff is no earlier than the start of the next ... unless sending it would
no longer fit") does not hold.

Correct: every unit answered 200 is billed (the 10:07 leave's cutoff reaches 11:00); or the usage is refused.
"""

from __future__ import annotations

from dataclasses import replace

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from tests.unit.review23_world import IDENTIFIER, LEGACY, World, hour, legacy_sns, legacy_usage
from tests.unit.test_atk35_final_usage_after_the_final_hour import LeavingMarketplace, deployed
from tests.unit.test_atk35_leaving_again_after_final_usage_sent import answered_200


def test_a_leave_between_does_not_hold_back_the_next_leaves_moved_cutoff() -> None:
    world = World(product=LEGACY, marketplace=LeavingMarketplace)
    marketplace = world.marketplace
    assert isinstance(marketplace, LeavingMarketplace)
    deployed(world, replace(world.settings, final_usage_cutoff_seconds=0))
    ref = CustomerRef(LEGACY.code, customer_identifier=IDENTIFIER)
    world.customers.put(Customer(ref, "845735284135", SubscriptionState.PENDING, world.clock.now()))
    legacy_sns(world, "subscription_subscribe-success.txt")  # 08:00
    world.at(hour(9, 10))
    accepted = answered_200(world, legacy_usage(world, "u-0910", 3))
    # Given a buyer who leaves at 09:58, whose final usage goes out at 10:04:30 (hour 10 sent early)
    world.at(hour(9, 58))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    world.at(hour(10, 5))
    assert (left := world.customers.get(ref)) is not None
    assert left.final_usage_sent == hour(10, 3)
    # who is back at 10:05, uses 2 calls and leaves at 10:05:30 (cutoff 10:10:30)
    legacy_sns(world, "subscription_subscribe-success.txt")
    accepted += answered_200(world, legacy_usage(world, "u-1005", 2))
    world.at(hour(10, 5.5))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    # is back at 10:06, uses 5 calls at 10:06:30 and leaves at 10:07 (Marketplace takes their records until 11:07)
    world.at(hour(10, 6))
    legacy_sns(world, "subscription_subscribe-success.txt")
    world.at(hour(10, 6.5))
    accepted += answered_200(world, legacy_usage(world, "u-1006", 5))
    world.at(hour(10, 7))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    assert (again := world.customers.get(ref)) is not None
    assert again.state is SubscriptionState.ENDING
    marketplace.closes = hour(11, 7)

    # When their final usage goes out and the hours settle
    world.at(hour(14, 10))

    # Then the calls answered 200 are billed
    refused = sum(int(r.quantity) for r in marketplace.refused)
    assert sum(world.billed_hours().values()) == accepted, (
        f"billed {world.billed_hours()} of {accepted} calls accepted (cutoff {again.final_usage_cutoff}); "
        f"{refused} answered CustomerNotSubscribed (sent at or after 11:07)"
    )
