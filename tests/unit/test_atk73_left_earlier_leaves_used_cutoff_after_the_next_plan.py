"""Left open by fix73 (docs/metering.md, leaving-buyer step 3): a cutoff an earlier leave's final usage was sent with,
at or after the next leave's plan, is taken for the next leave's own; the usage the buyer sent while back, billed in
the hour after it, goes out after Marketplace stopped taking their records.

Attack 73's first test with the first leave heard later: with the default settings (cutoff 2,700 s, delay 90 s), a
buyer on agmt-1 since 08:00 uses 3 calls at 09:30; agmt-1's Purchase Agreement Ended, stamped 10:05, is heard at
10:50: their cutoff is 10:55 (five minutes after it was heard, as usage accepted until then may be stamped ahead) and
their final usage goes out at 10:56:30 (``final_usage_sent`` 10:55, hour 10 sent early). At 10:57 the renewal that
replaced agmt-1 at 10:05 (agmt-2) is heard: they are ``active`` again, and 5 calls used at 10:58 are answered 200,
billed in 11:00 (``after_final_usage``). At 10:59 agmt-2's own Ended is heard, stamped 10:08: their final hour is
10:08-11:08, its plan 10:53, and the hour 11:00 fits (``latest`` 11:02). But the stored 10:55 is at or after that
plan and the final usage was sent with it, which is what this leave's own sent cutoff looks like: it is kept
(``Lifecycle._earliest_kept``), the final usage sends nothing for 11:00, and the hourly flush sends the 5 calls at
12:06, after Marketplace closed at 11:08 (CustomerNotSubscribed). 5 units answered 200, never billed.

Not introduced by fix73: it fails the same on main (4a498ad), which kept any used cutoff from the leave's start on.
Telling an earlier leave's used cutoff from this leave's own needs to know which leave a final usage was sent for
(stored nowhere), or that the buyer read active after it was sent.

Correct: every unit answered 200 is billed (the 10:08 leave's cutoff reaches 11:00, as it fits); or the usage is
refused at the door.
"""

from __future__ import annotations

from datetime import timedelta

from functions.customers.model import SubscriptionState
from tests.unit.review23_world import World, hour
from tests.unit.test_atk35_final_usage_after_the_final_hour import LeavingMarketplace

SECOND = "agmt-0000000000000000000000002"


def test_an_earlier_leaves_used_cutoff_after_the_next_plan_still_sends_the_usage_moved_past_it() -> None:
    world = World(marketplace=LeavingMarketplace)
    marketplace = world.marketplace
    assert isinstance(marketplace, LeavingMarketplace)
    world.subscribe()  # agmt-1, 08:00
    first = world.parties.agreement_id
    world.at(hour(9, 30))
    assert world.record(world.usage_event("u-0930", 3)).accepted == ("u-0930",)
    # Given agmt-1's Ended stamped 10:05, heard at 10:50 (cutoff 10:55), whose final usage goes out at 10:56:30
    world.at(hour(10, 50))
    world.send_stamped("ended_proposer.json", hour(10, 5), agreement_id=first)
    world.at(hour(10, 57))
    assert world.customer().final_usage_sent == hour(10, 55)
    # and the renewal that replaced agmt-1 at 10:05 heard at 10:57: they are active, 5 calls at 10:58 answered 200
    world.send_stamped("created_proposer_renew.json", hour(10, 5), agreement_id=first, renewal_agreement_id=SECOND)
    world.send_stamped("license_updated.json", hour(10, 5), agreement_id=SECOND)
    assert world.customer().state is SubscriptionState.ACTIVE
    world.at(hour(10, 58))
    accepted = 3 + world.units_taken("u-1058", 5)
    # and agmt-2's Ended, stamped 10:08, heard at 10:59: Marketplace takes their records until 11:08
    world.at(hour(10, 59))
    world.send_stamped("ended_proposer.json", hour(10, 8), agreement_id=SECOND)
    assert world.customer().state is SubscriptionState.ENDING
    marketplace.closes = hour(10, 8) + timedelta(hours=1)

    # When their final usage goes out again and the hours settle
    world.at(hour(14, 10))

    # Then the calls answered 200 are billed
    refused = sum(int(r.quantity) for r in marketplace.refused)
    assert sum(world.billed_hours().values()) == accepted, (
        f"billed {world.billed_hours()} of {accepted} calls accepted; cutoff {world.customer().final_usage_cutoff}; "
        f"{refused} answered CustomerNotSubscribed (sent at or after 11:08)"
    )
