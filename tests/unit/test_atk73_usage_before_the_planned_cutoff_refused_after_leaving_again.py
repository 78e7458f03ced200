"""Attack 73 (on a2288e9): a buyer back after their final usage was sent who leaves again within the hour sent has
every unit refused from that leave on, though their final usage (cutoff moved to the next hour) would bill it.

With the default settings (cutoff 2,700 s, delay 90 s), a legacy buyer: leaves at 09:15 (cutoff 10:00), their final
usage goes out at 10:01:30 (hour 10 sent early); back at 10:03 (subscribe-success), 2 calls at 10:04 (billed in 11:00);
leaves again at 10:10 (unsubscribe-pending). The change sets this leave's cutoff to 11:00 (``Lifecycle._moved_to``:
the hour the usage was moved to, which fits in the final hour 10:10-11:10), so the final-usage step at 11:01:30 sends
hour 11:00. Ingest, though, reads the cutoff as the planned one (``final_usage_cutoff``: the earlier of the stored
11:00 and 10:55) and refuses any event billed after that cutoff's hour; every event of theirs is billed in 11:00 or
later (``after_final_usage``), so 5 calls at 10:20 and 4 at 10:50, before the cutoff, are refused (422) with "is after
this subscription's final hour (10:55)". The docs the change adds say "New usage after that leave is still taken only
until the planned cutoff": it is taken not at all. An ordinary leave's buyer has 45 minutes of usage taken; this one
has none, and each refused unit is one the final usage would have billed.

Refused the same before the change (then rightly: its final usage did not reach 11:00). Lower severity than a loss
(nothing answered 200 is lost), but a buyer's billable usage refused (invariant 2's other side).

Correct: usage until the planned cutoff (10:55), billed in an hour the final usage sends, is taken and billed; or the
docs say it is refused.
"""

from __future__ import annotations

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from tests.unit.review23_world import IDENTIFIER, LEGACY, World, hour, legacy_sns, legacy_usage
from tests.unit.test_atk35_final_usage_after_the_final_hour import LeavingMarketplace
from tests.unit.test_atk35_leaving_again_after_final_usage_sent import answered_200


def test_usage_before_the_planned_cutoff_of_a_second_leave_is_taken_and_billed() -> None:
    world = World(product=LEGACY, marketplace=LeavingMarketplace)
    marketplace = world.marketplace
    assert isinstance(marketplace, LeavingMarketplace)
    ref = CustomerRef(LEGACY.code, customer_identifier=IDENTIFIER)
    world.customers.put(Customer(ref, "845735284135", SubscriptionState.PENDING, world.clock.now()))
    legacy_sns(world, "subscription_subscribe-success.txt")  # 08:00
    # Given a buyer who leaves at 09:15 (cutoff 10:00; hour 10 sent early for them at 10:01:30)
    world.at(hour(9, 15))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    world.at(hour(10, 3))
    assert (left := world.customers.get(ref)) is not None
    assert left.final_usage_sent == hour(10)
    # who is back at 10:03, uses 2 calls at 10:04 and leaves again at 10:10 (their final hour 10:10-11:10)
    legacy_sns(world, "subscription_subscribe-success.txt")
    world.at(hour(10, 4))
    accepted = answered_200(world, legacy_usage(world, "u-1004", 2))
    world.at(hour(10, 10))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    marketplace.closes = hour(11, 10)
    assert (again := world.customers.get(ref)) is not None
    assert again.final_usage_cutoff == hour(11)  # the change: their final usage reaches 11:00

    # When they use 5 calls at 10:20 and 4 at 10:50, before the planned cutoff (10:55)
    world.at(hour(10, 20))
    taken = answered_200(world, legacy_usage(world, "u-1020", 5))
    world.at(hour(10, 50))
    taken += answered_200(world, legacy_usage(world, "u-1050", 4))
    world.at(hour(14, 10))

    # Then they are taken (200) and billed with the rest
    assert taken == 9, f"{9 - taken} of 9 calls used before the planned cutoff (10:55) refused"
    assert sum(world.billed_hours().values()) == accepted + taken
