"""Attack 73 (on a2288e9): a buyer back after their final usage was sent, whose next leave is stamped before the cutoff
that final usage was sent with (its events heard late), keeps that used cutoff: the usage moved past the hour sent
early goes out after Marketplace stopped taking their records.

With the default settings (cutoff 2,700 s, delay 90 s): a buyer on agmt-1 since 08:00 uses 3 calls at 09:30; agmt-1's
Purchase Agreement Ended comes at 10:00 (cutoff 10:45); their final usage goes out at 10:46:30 (``final_usage_sent``
10:45, hour 10 sent early). At 10:50 the renewal that replaced agmt-1 at 10:00 (agmt-2, ``intent: RENEW``) is heard,
late: they are ``active`` again, and 5 calls used at 10:52 are answered 200, billed in 11:00 (``after_final_usage``).
At 10:55 agmt-2's own Ended is heard, stamped 10:40: their final hour is 10:40-11:40, and the change's rule
(``Lifecycle._moved_to``) says their cutoff is no earlier than 11:00, which fits (its ``latest`` is 11:34). But
``_set_cutoff`` keeps the stored 10:45: it was used (``final_usage_sent`` >= it), and a used cutoff stored after the
leave's start is kept (attack 50). The final-usage step sends nothing for 11:00; the hourly flush sends the 5 calls at
12:06, after Marketplace closed at 11:40 (CustomerNotSubscribed): 5 units answered 200, never billed.

Not introduced by the change (its parent loses the same 5 units, there through the same kept cutoff and with no moved
one), but it is the case the change claims to fix (docs/metering.md, leaving-buyer step 3: "Leaving again within that
sent hour, their cutoff is no earlier than the start of the next ... unless sending it would no longer fit").

Correct: every unit answered 200 is billed (here the cutoff of the leave at 10:40 reaches 11:00, as it fits); or the
usage is refused at the door.
"""

from __future__ import annotations

from datetime import timedelta

from functions.customers.model import SubscriptionState
from tests.unit.review23_world import World, hour
from tests.unit.test_atk35_final_usage_after_the_final_hour import LeavingMarketplace

SECOND = "agmt-0000000000000000000000002"


def test_a_leave_stamped_before_the_used_cutoff_still_sends_the_usage_moved_past_it() -> None:
    world = World(marketplace=LeavingMarketplace)
    marketplace = world.marketplace
    assert isinstance(marketplace, LeavingMarketplace)
    world.subscribe()  # agmt-1, 08:00
    first = world.parties.agreement_id
    world.at(hour(9, 30))
    assert world.record(world.usage_event("u-0930", 3)).accepted == ("u-0930",)
    # Given agmt-1's Ended at 10:00 (cutoff 10:45), whose final usage goes out at 10:46:30
    world.at(hour(10))
    world.send("ended_proposer.json", agreement_id=first)
    world.at(hour(10, 50))
    assert world.customer().final_usage_sent == hour(10, 45)
    # and the renewal that replaced agmt-1 at 10:00 heard at 10:50: they are active, 5 calls at 10:52 answered 200
    world.send_stamped("created_proposer_renew.json", hour(10), agreement_id=first, renewal_agreement_id=SECOND)
    world.send_stamped("license_updated.json", hour(10), agreement_id=SECOND)
    assert world.customer().state is SubscriptionState.ACTIVE
    world.at(hour(10, 52))
    accepted = 3 + world.units_taken("u-1052", 5)
    # and agmt-2's Ended, stamped 10:40, heard at 10:55: Marketplace takes their records until 11:40
    world.at(hour(10, 55))
    world.send_stamped("ended_proposer.json", hour(10, 40), agreement_id=SECOND)
    assert world.customer().state is SubscriptionState.ENDING
    marketplace.closes = hour(10, 40) + timedelta(hours=1)

    # When their final usage goes out again and the hours settle
    world.at(hour(14, 10))

    # Then the calls answered 200 are billed
    refused = sum(int(r.quantity) for r in marketplace.refused)
    assert sum(world.billed_hours().values()) == accepted, (
        f"billed {world.billed_hours()} of {accepted} calls accepted; cutoff {world.customer().final_usage_cutoff}; "
        f"{refused} answered CustomerNotSubscribed (sent at or after 11:40)"
    )
