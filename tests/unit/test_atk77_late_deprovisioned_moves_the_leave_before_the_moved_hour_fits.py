"""Attack 77 (on fix73, e0ae121): a licence buyer back after their final usage was sent leaves again in AWS's 2026
order (License Deprovisioned opens the final hour, Purchase Agreement Ended follows); the Ended is heard first, the
Deprovisioned late. Read from the Ended, the hour after the one sent early fits in their final hour (cutoff moved to
11:00), and fix73's ingest takes their usage into it with a 200; the Deprovisioned, stamped two minutes earlier and
heard 18 minutes later, opens the final hour earlier, 11:00 no longer fits (its ``latest`` is 10:59), and the stored
cutoff moves earlier, to the plan (10:50): the final usage sends hour 10 only, and the usage billed in 11:00 goes out
with the hourly flush at 12:06, after Marketplace closed at 11:05.

With the default settings (cutoff 2,700 s, delay 90 s): a buyer on agmt-1 since 08:00 uses 3 calls at 09:30; agmt-1
is deprovisioned at 09:15 (cutoff 10:00; the final usage goes out at 10:01:30, hour 10 sent early for them); the
renewal agmt-2 takes the licence at 10:02 (heard then: active again). agmt-2 is deprovisioned at 10:05 and ended at
10:07 (the simulator draws the Ended 0 to 300 s after the Deprovisioned, each delivered up to 20 minutes late). The
Ended is heard at 10:07 (final hour 10:07-11:07, cutoff moved to 11:00, which fits: ``latest`` 11:01); 5 calls at 10:20
are answered 200, billed in 11:00 (``after_final_usage``); the Deprovisioned is heard at 10:25.

Heard in the order they were stamped, the same 5 calls are refused at the door (422, "is after this subscription's
final hour"): the end state depends on the order (invariant 4), and in this order 5 units answered 200 are never billed
(invariant 1). 4a498ad (fix73's base) refuses them in both orders: introduced by fix73's ingest, which bounds the
billing hour by the stored cutoff while the lifecycle may still move it earlier for the same leave.

Correct: every unit answered 200 is billed (a cutoff that took usage into an hour is not moved before it), or the usage
is refused in both orders.
"""

from __future__ import annotations

from datetime import timedelta

from functions.customers.model import SubscriptionState
from tests.unit.review23_world import World, hour
from tests.unit.test_atk35_final_usage_after_the_final_hour import LeavingMarketplace

SECOND = "agmt-0000000000000000000000002"


def test_a_late_deprovisioned_opening_the_final_hour_earlier_strands_the_usage_taken_into_the_moved_hour() -> None:
    world = World(marketplace=LeavingMarketplace)
    marketplace = world.marketplace
    assert isinstance(marketplace, LeavingMarketplace)
    world.subscribe()  # agmt-1, 08:00
    first = world.parties.agreement_id
    # Given agmt-1 deprovisioned at 09:15 (cutoff 10:00), 3 calls at 09:30, its final usage out at 10:01:30
    world.at(hour(9, 15))
    world.send("license_deprovisioned.json", agreement_id=first)
    world.at(hour(9, 30))
    accepted = world.units_taken("u-0930", 3)
    world.at(hour(10, 2))
    assert world.customer().final_usage_sent == hour(10)
    # and the renewal agmt-2 taking the licence at 10:02: active again
    world.send("created_proposer_renew.json", agreement_id=first, renewal_agreement_id=SECOND)
    world.send("license_updated.json", agreement_id=SECOND)
    assert world.customer().state is SubscriptionState.ACTIVE
    # and agmt-2 deprovisioned at 10:05 (Marketplace takes their records until 11:05), ended at 10:07: the Ended heard
    # first, at 10:07 (cutoff moved to 11:00)
    world.at(hour(10, 7))
    world.send("ended_proposer.json", agreement_id=SECOND)
    assert world.customer().state is SubscriptionState.ENDING
    assert world.customer().final_usage_cutoff == hour(11)
    marketplace.closes = hour(10, 5) + timedelta(hours=1)
    # 5 calls at 10:20, billed in 11:00
    world.at(hour(10, 20))
    accepted += world.units_taken("u-1020", 5)
    # and the Deprovisioned, stamped 10:05, heard at 10:25
    world.at(hour(10, 25))
    world.send_stamped("license_deprovisioned.json", hour(10, 5), agreement_id=SECOND)

    # When the final usage goes out and the hours settle
    world.at(hour(14, 10))

    # Then every call answered 200 is billed
    refused = sum(int(r.quantity) for r in marketplace.refused)
    assert sum(world.billed_hours().values()) == accepted, (
        f"billed {world.billed_hours()} of {accepted} calls answered 200 (cutoff {world.customer().final_usage_cutoff}"
        f"); {refused} answered CustomerNotSubscribed (sent at or after 11:05)"
    )
