"""Attack 77 (on fix73, e0ae121): usage fix73 now takes into the hour after an earlier leave's final usage (its moved
cutoff's hour) is stranded when the buyer is read ``ended`` before that hour begins: the cutoff becomes ``now``
(``Lifecycle._set_cutoff``'s ENDED branch), the final usage sends nothing after its hour, and the usage, answered 200,
goes out with the hourly flush after Marketplace stopped taking the buyer's records.

fix73 made ingest bound a leaving buyer's billing hour by the stored cutoff (``final_usage_cutoff``: the moved 11:00)
instead of the plan's (10:55): usage after a second leave within the hour sent early is billed in 11:00 and answered
200 (attack 73's third test). But the moved cutoff is only stored, not kept: a close heard before 11:00 replaces it
with the moment it was heard (ENDED: ``cutoff, own_from = now, ending_since``, 11:00 being later than now), and the
final-usage step then sends hours up to 10:00 only. Before fix73 this usage was refused at the door (422); now it is
lost.

With the default settings (cutoff 2,700 s, delay 90 s), a legacy buyer subscribed at 08:00 uses 3 calls at 09:30,
leaves at 09:15 (cutoff 10:00; their final usage goes out at 10:01:30, hour 10 sent early for them), is back at 10:03
(subscribe-success) and leaves again within hour 10 (their cutoff moved to 11:00, which fits). Marketplace takes their
records until an hour after that leave (as the simulator models it, whatever the closing message's stamp).

1. The first leave's unsubscribe-success comes late, at 10:30 (75 minutes after its pending: the simulator draws a
   closing message 5 to 20 minutes late). docs/metering.md rule 5 reads it as the second leave's quick close (ended at
   10:30) and promises for this ambiguous pairing "their usage from then to their cutoff is refused (4xx: revenue lost,
   nothing answered 200 unbilled)". The 5 calls used at 10:20 were answered 200 and are never billed.
2. The second leave's own unsubscribe-success comes 9 minutes early (10:59 for a pending at 10:08; within
   ``ABOUT_AN_HOUR``, so paired with it, correctly): ended at 10:59, the final usage sends hour 10 only; 9 calls used at
   10:20 and 10:50 (before the planned cutoff, 10:53) were answered 200 and are never billed.

Both pass on 4a498ad (fix73's base), which refused those calls (422: "is after this subscription's final hour"):
introduced by fix73's ingest change. The base's loss of usage accepted while the buyer was back (active, before the
second leave) in the same way is pre-existing and not counted here (none is sent then).

Correct: every unit answered 200 is billed (a close heard before the moved hour keeps a cutoff reaching it, or its
final usage sends it), or the usage billed in an hour the final usage may not send is refused at the door.
"""

from __future__ import annotations

from datetime import timedelta

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from tests.unit.review23_world import IDENTIFIER, LEGACY, World, hour, legacy_sns, legacy_usage
from tests.unit.test_atk35_final_usage_after_the_final_hour import LeavingMarketplace
from tests.unit.test_atk35_leaving_again_after_final_usage_sent import answered_200


def _back_after_final_usage(world: World) -> tuple[CustomerRef, int]:
    """The legacy buyer subscribed at 08:00, 3 calls at 09:30, leaving at 09:15 (their final usage sent at 10:01:30,
    hour 10 sent early), back at 10:03: their ref and the calls answered 200."""
    ref = CustomerRef(LEGACY.code, customer_identifier=IDENTIFIER)
    world.customers.put(Customer(ref, "845735284135", SubscriptionState.PENDING, world.clock.now()))
    legacy_sns(world, "subscription_subscribe-success.txt")  # 08:00
    world.at(hour(9, 15))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    world.at(hour(9, 30))
    accepted = answered_200(world, legacy_usage(world, "u-0930", 3))
    world.at(hour(10, 3))
    assert (left := world.customers.get(ref)) is not None
    assert left.final_usage_sent == hour(10)
    legacy_sns(world, "subscription_subscribe-success.txt")
    return ref, accepted


def test_a_late_success_read_as_the_next_leaves_close_strands_the_usage_moved_past_the_hour_sent() -> None:
    world = World(product=LEGACY, marketplace=LeavingMarketplace)
    marketplace = world.marketplace
    assert isinstance(marketplace, LeavingMarketplace)
    ref, accepted = _back_after_final_usage(world)
    # Given the buyer leaving again at 10:10: cutoff moved to 11:00 (Marketplace takes their records until 11:10)
    world.at(hour(10, 10))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    assert (again := world.customers.get(ref)) is not None
    assert again.final_usage_cutoff == hour(11)
    marketplace.closes = hour(11, 10)
    # who uses 5 calls at 10:20, billed in 11:00
    world.at(hour(10, 20))
    accepted += answered_200(world, legacy_usage(world, "u-1020", 5))
    # and the first leave's unsubscribe-success, 15 minutes late, at 10:30: read as this leave's close
    world.at(hour(10, 30))
    legacy_sns(world, "subscription_unsubscribe-success.txt")
    assert (ended := world.customers.get(ref)) is not None
    assert ended.state is SubscriptionState.ENDED

    # When the final usage goes out and the hours settle
    world.at(hour(14, 10))

    # Then every call answered 200 is billed
    refused = sum(int(r.quantity) for r in marketplace.refused)
    assert sum(world.billed_hours().values()) == accepted, (
        f"billed {world.billed_hours()} of {accepted} calls answered 200 (cutoff {ended.final_usage_cutoff}); "
        f"{refused} answered CustomerNotSubscribed (sent at or after 11:10)"
    )


def test_an_early_close_of_the_next_leave_strands_the_usage_moved_past_the_hour_sent() -> None:
    world = World(product=LEGACY, marketplace=LeavingMarketplace)
    marketplace = world.marketplace
    assert isinstance(marketplace, LeavingMarketplace)
    ref, accepted = _back_after_final_usage(world)
    # Given the buyer leaving again at 10:08: cutoff moved to 11:00, which fits (its latest is 11:02)
    world.at(hour(10, 8))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    assert (again := world.customers.get(ref)) is not None
    assert again.final_usage_cutoff == hour(11)
    marketplace.closes = hour(10, 8) + timedelta(hours=1)
    # who uses 5 calls at 10:20 and 4 at 10:50, before the planned cutoff (10:53), billed in 11:00
    world.at(hour(10, 20))
    accepted += answered_200(world, legacy_usage(world, "u-1020", 5))
    world.at(hour(10, 50))
    accepted += answered_200(world, legacy_usage(world, "u-1050", 4))
    # and their unsubscribe-success about an hour on: 9 minutes early (10:59), within ABOUT_AN_HOUR of its pending
    world.at(hour(10, 59))
    legacy_sns(world, "subscription_unsubscribe-success.txt")
    assert (ended := world.customers.get(ref)) is not None
    assert ended.state is SubscriptionState.ENDED

    # When the final usage goes out and the hours settle
    world.at(hour(14, 10))

    # Then every call answered 200 is billed
    refused = sum(int(r.quantity) for r in marketplace.refused)
    assert sum(world.billed_hours().values()) == accepted, (
        f"billed {world.billed_hours()} of {accepted} calls answered 200 (cutoff {ended.final_usage_cutoff}); "
        f"{refused} answered CustomerNotSubscribed (sent at or after 11:08)"
    )
