"""Attack 82 (on 1364c25, fix73-left): the same leave's own sent cutoff, its final hour moved a few minutes earlier
by a late event after the final usage went out, is taken for an earlier leave's and replaced; the final usage is sent
again with a cutoff in the next hour, and that hour is marked sent early for the buyer. What they use when back on
their licence within it is billed an hour later, past the final hour of their next leave: 5 units answered 200 are
sent after Marketplace stopped taking their records (CustomerNotSubscribed). Passes on d773659 (a regression).

With the default settings (cutoff 2,700 s, delay 90 s), a buyer on agmt-1 since 08:00 uses 3 calls at 09:30.
agmt-1's Purchase Agreement Ended, stamped 10:10, heard on time, opens their final hour: cutoff 10:55, final usage out
at 10:56:30 (``final_usage_sent`` 10:55, ``final_usage_sent_for`` 10:10). agmt-1's License Deprovisioned, stamped
10:08, is heard late, at 10:58: AWS's 2026 order, it opens the hour (10:08; Marketplace takes their records until
11:08), the Ended only marks the agreement. This leave's plan is 10:53, the hour 11:00 fits (``latest`` 11:02): the
stored 10:55, sent, is at or after the plan but ``final_usage_sent_for`` (10:10) is not 10:08, so it is read as an
earlier leave's and replaced by 11:02; the step sends again at 11:03 and marks ``final_usage_sent`` 11:02, hour 11
sent early (d773659 kept 10:55: nothing sent for 11).

The buyer comes back on the same licence under agmt-2 at 11:04 (Created, License Updated), uses 5 calls at 11:04:30,
answered 200 and billed in the first hour not sent early: 12:00 (d773659: 11:00). agmt-2's Ended at 11:05 opens their
next final hour (Marketplace takes their records until 12:05); 12:00 does not fit it (``latest`` 11:59), so its
final usage (cutoff 11:50, out at 11:51:30) sends up to hour 11 and the 5 calls go out with the hourly flush at 13:06,
refused. On d773659 they are in hour 11, sent at 11:51:30 and billed.

Correct: every unit answered 200 is billed (a leave's own sent cutoff is kept when a late event moves its final hour).
"""

from __future__ import annotations

from datetime import timedelta

from functions.customers.model import SubscriptionState
from tests.unit.review23_world import assert_every_answered_unit_billed, hour
from tests.unit.test_atk35_final_usage_after_the_final_hour import back_on_licence, leaving_world

SECOND = "agmt-0000000000000000000000002"


def test_a_late_deprovisioned_moving_the_final_hour_earlier_does_not_resend_into_the_next_hour() -> None:
    world, marketplace, accepted = leaving_world()  # agmt-1 from 08:00, 3 calls at 09:30
    first = world.parties.agreement_id
    # Given agmt-1's Ended at 10:10, heard on time: final usage out at 10:56:30 with the cutoff 10:55
    world.at(hour(10, 10))
    world.send_stamped("ended_proposer.json", hour(10, 10), agreement_id=first)
    world.at(hour(10, 58))
    assert world.customer().final_usage_sent == hour(10, 55)
    # and agmt-1's Deprovisioned, stamped 10:08, heard at 10:58: the final hour opened at 10:08
    world.send_stamped("license_deprovisioned.json", hour(10, 8), agreement_id=first)
    assert world.customer().state is SubscriptionState.ENDING
    marketplace.closes = hour(10, 8) + timedelta(hours=1)
    # and the buyer back on their licence under agmt-2 at 11:04, using 5 calls at 11:04:30
    back_on_licence(world, SECOND, hour(11, 4))
    marketplace.closes = None
    world.at(hour(11, 4) + timedelta(seconds=30))
    accepted += world.units_taken("u-1104", 5)
    # and leaving agmt-2 at 11:05: Marketplace takes their records until 12:05
    world.at(hour(11, 5))
    world.send_stamped("ended_proposer.json", hour(11, 5), agreement_id=SECOND)
    assert world.customer().state is SubscriptionState.ENDING
    marketplace.closes = hour(11, 5) + timedelta(hours=1)

    # When the hours settle
    world.at(hour(14, 10))

    # Then every call answered 200 is billed
    assert accepted == 8
    assert_every_answered_unit_billed(world, accepted)
