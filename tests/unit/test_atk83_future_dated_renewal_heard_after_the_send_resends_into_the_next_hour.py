"""Attack 83 (on c1290f2): a future-dated renewal's Purchase Agreement Created, heard after the leaving buyer's final
usage went out, changes the name of the same leave (``_leave_of``: the latest-started agreement, now the renewal that
has not started) from "agreement:agmt-1" to "agreement:agmt-2". ``_another_leave`` then reads this leave's own sent
cutoff as an earlier leave's, ``_earliest_kept`` replaces it by one in the next hour (``_moved_to``), the final usage
is sent again and ``final_usage_sent`` marks hour 11 sent early. What the buyer uses once the renewal holds the
licence within that hour is billed in hour 12, after Marketplace stopped taking their records when they leave
again: 5 units answered 200, never billed. Passes on d773659 (a regression).

With the default settings (cutoff 2,700 s, delay 90 s): a buyer on agmt-1 since 08:00 uses 3 calls at 09:30. agmt-1's
Ended at 10:10, heard on time, opens their final hour: cutoff 10:55, final usage out at 10:56:30
(``final_usage_sent`` 10:55, ``final_usage_sent_for`` "agreement:agmt-1"). At 10:58 the renewal agmt-2 (intent RENEW,
previousAgreementId agmt-1), accepted at 09:00 with ``startTime`` 11:15, is heard: future-dated, it does not hold the
licence yet and the buyer stays ``ending`` (docs/metering.md step 2). It is the latest-started agreement, so this leave
is now named "agreement:agmt-2": the stored 10:55 is replaced by 11:03, the final usage is sent again
(``final_usage_sent`` 11:03; d773659 keeps 10:55 and sends nothing more). The step ends them at 11:10.

agmt-2 takes the licence at its start, 11:15 (License Updated): they are ``active``; 5 calls at 11:20 are answered 200
and billed in the first hour not sent early, 12:00 (d773659: 11:00). They leave agmt-2 in the seller guide's order
(Ended 11:30, Deprovisioned 11:40: ``ended``, final usage at once up to hour 11); hour 12 goes out with the hourly
flush at 13:06, after Marketplace closed (12:30): CustomerNotSubscribed.

Correct: every unit answered 200 is billed (a leave keeps its name when an agreement that has not taken the licence is
heard of; its own sent cutoff is kept).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from functions.customers.model import SubscriptionState
from functions.lifecycle.notifications import parse_notification
from tests.aws_corpus import eventbridge_example
from tests.unit.review23_world import World, assert_every_answered_unit_billed, hour
from tests.unit.test_atk35_final_usage_after_the_final_hour import leaves, leaving_world

SECOND = "agmt-0000000000000000000000002"


def created_starting(world: World, example: str, at: datetime, starts: datetime, **names: Any) -> None:
    """AWS's Created example stamped ``at`` whose ``agreement.startTime`` is ``starts``, heard now."""
    event = eventbridge_example(example, world.parties.with_(**names), at=at)
    event["detail"]["agreement"]["startTime"] = starts.strftime("%Y-%m-%dT%H:%M:%SZ")
    world.lifecycle.handle(parse_notification(json.dumps(event), message_id="m", sent_at=world.clock.now()))


def test_a_future_dated_renewal_heard_after_the_send_does_not_resend_into_the_next_hour() -> None:
    world, marketplace, accepted = leaving_world()  # agmt-1 from 08:00, 3 calls at 09:30
    first = world.parties.agreement_id
    # Given agmt-1's Ended at 10:10, heard on time: final usage out at 10:56:30 with the cutoff 10:55
    world.at(hour(10, 10))
    world.send_stamped("ended_proposer.json", hour(10, 10), agreement_id=first)
    marketplace.closes = hour(10, 10) + timedelta(hours=1)
    world.at(hour(10, 58))
    assert world.customer().final_usage_sent == hour(10, 55)
    # and the renewal agmt-2, accepted at 09:00 to start at 11:15, heard at 10:58: not started, they stay ending
    created_starting(
        world, "created_proposer_renew.json", hour(9), hour(11, 15), agreement_id=first, renewal_agreement_id=SECOND
    )
    assert world.customer().state is SubscriptionState.ENDING
    # and agmt-2 taking the licence at 11:15: they use 5 calls at 11:20
    world.at(hour(11, 15))
    world.send_stamped("license_updated.json", hour(11, 15), agreement_id=SECOND)
    assert world.customer().state is SubscriptionState.ACTIVE
    marketplace.closes = None
    world.at(hour(11, 20))
    accepted += world.units_taken("u-1120", 5)
    # and leaving agmt-2: its Ended at 11:30, its Deprovisioned at 11:40 (Marketplace takes their records until 12:30)
    leaves(world, marketplace, SECOND, hour(11, 30), hour(11, 40))

    # When the hours settle
    world.at(hour(14, 10))

    # Then every call answered 200 is billed
    assert accepted == 8
    assert_every_answered_unit_billed(world, accepted)
