"""Attack 35: a buyer whose final usage was sent, who is subscribed again and then leaves again within the hour,
has the usage accepted after that second leave billed nowhere.

A leaving buyer's final-usage step sends every hour of theirs up to their cutoff's hour early and marks
``final_usage_sent`` first; usage accepted later (they are subscribed again) must go to the hour after it
(``functions/usage/ingest.py`` ``after_final_usage``): a second record for an hour already sent would be refused. But
ingest applies that only to a buyer who is not ``ending``: once the buyer leaves again (a second unsubscribe-pending,
or a renewal's agreement ended), the ``ending`` branch checks the new cutoff alone, and usage stamped in the hour
whose record was sent is stored in that hour. The flush later finds the buyer's record of it stored (and sent) and
keeps it (``SealedTotalMismatch``; the reconciliation's "accepted, not in its sealed total"): the usage, answered
200, is never billed.

Found by the simulator (seed 80490, with ``final_usage_cutoff_seconds`` 300, ``final_usage_delay_seconds`` 60,
``flush_grace_seconds`` 1800, all valid): a buyer's renewal announced after their old agreement's Ended (its final
usage sent at 10:36), then the buyer leaving at 10:55; 3 calls and 22 seats accepted at 10:56 were never billed. Here
with the default settings and a legacy buyer who leaves, comes back and leaves again. The same root has a second
face (seeds 82097, 82522, 83711, 83726 with ``final_usage_cutoff_seconds`` 0): usage moved to the hour after the one
sent early is past the final hour of a second leave in that earlier hour, and goes out after Marketplace stopped
taking the buyer's usage (CustomerNotSubscribed).

Correct: each unit answered 200 is billed; a unit that cannot be is refused at the door (4xx), never accepted.
"""

from __future__ import annotations

from functions.customers.model import SubscriptionState
from functions.usage.ingest import UsageRejected
from tests.unit.review23_world import (
    LEGACY,
    World,
    hour,
    legacy_sns,
    legacy_subscribed,
    legacy_usage,
)
from tests.unit.test_atk35_final_usage_after_the_final_hour import LeavingMarketplace


def answered_200(world: World, event: dict[str, object]) -> int:
    """The calls of ``event`` the usage API accepts (a 200); 0 where it refuses it (a 4xx: never promised)."""
    try:
        result = world.record(event)
    except UsageRejected:
        return 0
    assert result.accepted == (event["event_id"],)
    return int(str(event["quantity"]))


def test_usage_accepted_after_leaving_a_second_time_within_the_hour_is_billed() -> None:
    world = World(product=LEGACY)
    ref = legacy_subscribed(world)  # 08:00
    # Given a buyer who leaves at 10:00 (cutoff 10:45) having used 4 calls at 10:20
    world.at(hour(10))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    world.at(hour(10, 20))
    assert world.record(legacy_usage(world, "u-1020", 4)).accepted == ("u-1020",)
    # whose final usage goes out at 10:46:30 (hour 10 sent for them early), who is gone at 10:48
    world.at(hour(10, 48))
    assert (leaving := world.customers.get(ref)) is not None
    assert leaving.final_usage_sent == hour(10, 45)
    legacy_sns(world, "subscription_unsubscribe-success.txt")
    # subscribes again at 10:50 and uses 5 calls at 10:51 (billed in the hour after, 11:00)
    world.at(hour(10, 50))
    legacy_sns(world, "subscription_subscribe-success.txt")
    world.at(hour(10, 51))
    assert world.record(legacy_usage(world, "u-1051", 5)).accepted == ("u-1051",)
    # and leaves again at 10:53, using 6 calls at 10:54, before this leave's cutoff (11:38): answered 200
    world.at(hour(10, 53))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    assert (again := world.customers.get(ref)) is not None
    assert again.state is SubscriptionState.ENDING
    world.at(hour(10, 54))
    accepted = 9 + answered_200(world, legacy_usage(world, "u-1054", 6))

    # When their final usage goes out again and the hours settle
    world.at(hour(14, 10))

    # Then the calls accepted (15, unless the last 6 were refused at the door) are billed
    billed = world.billed_hours()
    assert sum(billed.values()) == accepted, (
        f"billed {billed}: {accepted - sum(billed.values())} accepted calls not billed"
    )


def test_usage_moved_past_the_hour_sent_early_is_billed_when_the_buyer_leaves_again() -> None:
    # The other half (simulator seeds 82097, 82522, 83711, 83726, with final_usage_cutoff_seconds 0): usage accepted
    # while the buyer is back is moved to the hour after the one sent early (after_final_usage), and a second leave
    # whose final hour is that same earlier hour never sends it: it goes after Marketplace stopped taking their usage
    world = World(product=LEGACY, marketplace=LeavingMarketplace)
    marketplace = world.marketplace
    assert isinstance(marketplace, LeavingMarketplace)
    ref = legacy_subscribed(world)  # 08:00
    # Given a buyer who used 3 calls at 09:10 and leaves at 09:20 (cutoff 10:05: their hour 10 is sent early, 10:06:30)
    world.at(hour(9, 10))
    assert world.record(legacy_usage(world, "u-0910", 3)).accepted == ("u-0910",)
    world.at(hour(9, 20))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    world.at(hour(10, 7))
    assert (left := world.customers.get(ref)) is not None
    assert left.final_usage_sent == hour(10, 5)
    legacy_sns(world, "subscription_unsubscribe-success.txt")
    # who subscribes again at 10:08 and uses 5 calls at 10:09 (moved to 11:00, after the hour sent early): 200
    world.at(hour(10, 8))
    legacy_sns(world, "subscription_subscribe-success.txt")
    world.at(hour(10, 9))
    accepted = 3 + answered_200(world, legacy_usage(world, "u-1009", 5))
    # and who leaves again at 10:10: their final hour is 10:00 (cutoff 10:55), Marketplace takes usage until 11:10
    world.at(hour(10, 10))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    marketplace.closes = hour(11, 10)

    # When their final usage goes out again (10:56:30) and the hours settle
    world.at(hour(14, 10))

    # Then the calls accepted (8, unless the 5 were refused at the door) are billed
    refused = sum(int(r.quantity) for r in marketplace.refused)
    assert sum(world.billed_hours().values()) == accepted, (
        f"billed {world.billed_hours()}; {refused} calls answered CustomerNotSubscribed (sent after 11:10)"
    )
