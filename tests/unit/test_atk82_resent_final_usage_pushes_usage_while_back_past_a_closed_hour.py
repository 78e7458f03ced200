"""Attack 82 (on 1364c25, fix73-left), the fuzzed face of the moved-hour resend: with a short cutoff the window is wide.
A leave's own sent cutoff, its final hour opened earlier by a License Deprovisioned heard late, is read as an earlier
leave's and replaced by one in the next hour; the final usage is sent again and ``final_usage_sent`` marks that hour
sent early. Everything the buyer uses when back on their licence is then billed an hour later, in an hour their next
leave's final usage never sends: 5 units answered 200, never billed. Passes on d773659 (a regression).

Settings synth accepts (attack 35's seed 80490): ``final_usage_cutoff_seconds`` 300, ``final_usage_delay_seconds`` 60.
A buyer on agmt-1 since 08:00 uses 3 calls at 09:30. agmt-1's Purchase Agreement Ended (10:30, heard on time) opens
their final hour: cutoff 10:35, final usage out at 10:36 (``final_usage_sent`` 10:35, ``final_usage_sent_for`` 10:30).
agmt-1's License Deprovisioned, stamped 10:20, is heard at 11:05: AWS's 2026 order, it opened the hour (Marketplace
takes their records until 11:20). The plan is 10:25, the hour 11:00 fits (``latest`` 11:14); the stored 10:35 was sent
for 10:30, not 10:20, so it is taken for an earlier leave's and replaced by 11:10; the step sends again at 11:11,
``final_usage_sent`` 11:10 (d773659 kept 10:35: nothing more sent, hour 11 not sent early).

The buyer comes back on the same licence under agmt-2 at 11:15 (Created, License Updated) and uses 5 calls at 11:20,
answered 200 and billed in the first hour not sent early: 12:00 (d773659: 11:00). They leave agmt-2 in the seller
guide's order: its Ended at 11:30 opens the hour, its License Deprovisioned at 11:40 closes it (``ended``: the final
usage goes at once, cutoff 11:40, hours up to 11). Hour 12 is sent by the hourly flush at 13:06, after Marketplace
stopped taking their records (here at 12:30, the most it could): CustomerNotSubscribed.

Correct: every unit answered 200 is billed (the leave's own sent cutoff is kept when a late event opens its final hour
a few minutes earlier; nothing moves into an hour not needed).
"""

from __future__ import annotations

from functions.customers.model import SubscriptionState
from tests.unit.review23_world import assert_every_answered_unit_billed, hour
from tests.unit.test_atk35_final_usage_after_the_final_hour import back_on_licence, leaves, leaving_world

SECOND = "agmt-0000000000000000000000002"


def test_a_late_deprovisioned_opening_the_hour_earlier_does_not_push_usage_while_back_past_the_next_leave() -> None:
    world, marketplace, accepted = leaving_world(final_usage_cutoff_seconds=300, final_usage_delay_seconds=60)
    first = world.parties.agreement_id  # agmt-1 from 08:00, 3 calls at 09:30
    # Given agmt-1's Ended at 10:30, heard on time: final usage out at 10:36 with the cutoff 10:35
    world.at(hour(10, 30))
    world.send_stamped("ended_proposer.json", hour(10, 30), agreement_id=first)
    world.at(hour(10, 40))
    assert world.customer().final_usage_sent == hour(10, 35)
    # and agmt-1's Deprovisioned, stamped 10:20, heard at 11:05: their final hour opened at 10:20
    world.at(hour(11, 5))
    world.send_stamped("license_deprovisioned.json", hour(10, 20), agreement_id=first)
    assert world.customer().state is SubscriptionState.ENDING
    # and the buyer back on their licence under agmt-2 at 11:15, using 5 calls at 11:20
    back_on_licence(world, SECOND, hour(11, 15))
    world.at(hour(11, 20))
    accepted += world.units_taken("u-1120", 5)
    # and leaving agmt-2: its Ended at 11:30, its Deprovisioned at 11:40 (the seller guide's order: it closes the hour)
    leaves(world, marketplace, SECOND, hour(11, 30), hour(11, 40))

    # When the hours settle
    world.at(hour(14, 10))

    # Then every call answered 200 is billed
    assert accepted == 8
    assert_every_answered_unit_billed(world, accepted)


def test_with_the_default_settings_the_same_loss_needs_the_late_deprovisioned_in_the_hours_last_minutes() -> None:
    """The defaults (cutoff 2,700 s, delay 90 s): agmt-1's Ended at 10:10 (final usage out at 10:56:30, cutoff 10:55),
    its Deprovisioned stamped 10:08 heard at 10:58 (cutoff replaced by 11:02, sent again at 11:03: hour 11 sent early);
    back under agmt-2 at 11:15, 5 calls at 11:20 (billed in 12:00), agmt-2's Ended at 11:30 and Deprovisioned at 11:40
    (``ended``, hours up to 11 sent): the 5 calls go out at 13:06, refused. d773659 bills them in 11:00."""
    world, marketplace, accepted = leaving_world()
    first = world.parties.agreement_id
    world.at(hour(10, 10))
    world.send_stamped("ended_proposer.json", hour(10, 10), agreement_id=first)
    world.at(hour(10, 58))
    assert world.customer().final_usage_sent == hour(10, 55)
    world.send_stamped("license_deprovisioned.json", hour(10, 8), agreement_id=first)
    back_on_licence(world, SECOND, hour(11, 15))
    world.at(hour(11, 20))
    accepted += world.units_taken("u-1120", 5)
    leaves(world, marketplace, SECOND, hour(11, 30), hour(11, 40))

    world.at(hour(14, 10))

    assert accepted == 8
    assert_every_answered_unit_billed(world, accepted)
