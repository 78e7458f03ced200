"""Attack 72 (on 6eaaccc): the early end 6eaaccc accepts is not only refusals. A legacy buyer leaves at 10:00, is back
at 10:10 and leaves again at 10:25 (cutoff 11:10: usage of the 11:00 hour is still theirs). At 10:57 they send usage
stamped 11:01 (a producer clock 4 minutes ahead, within ``FUTURE_SKEW``): answered 200, billed in the 11:00 hour. At
10:58 the first leave's unsubscribe-success comes, two minutes before the hour (AWS promises "about an hour"). 6eaaccc
pairs it with the 10:25 pending (the buyer came back from the 10:00 one): ENDED at 10:58, cutoff moved to 10:58, and
the final usage is sent up to the cutoff's hour, 10:00. The 11:00 hour is sent by the flush at 12:06, after their own
unsubscribe-success (11:25), and answered CustomerNotSubscribed: 200 and never billed, though Marketplace took their
records until 11:25 (docs/metering.md rule 5 says this reading costs refusals only, "never 200 unbilled"). Before
6eaaccc the buyer read ENDING until 11:25 and the final usage at 11:11:30 carried the 11:00 hour. Correct: every unit
answered 200 is billed."""

from __future__ import annotations

from datetime import timedelta

from functions.usage.ingest import UsageRejected
from tests.unit.review23_world import (
    LEGACY,
    World,
    back_and_leaving_again,
    hour,
    legacy_sns,
    legacy_usage,
)
from tests.unit.test_atk35_final_usage_after_the_final_hour import LeavingMarketplace


def test_usage_answered_200_before_the_early_end_is_billed() -> None:
    world = World(product=LEGACY, marketplace=LeavingMarketplace)
    marketplace = world.marketplace
    assert isinstance(marketplace, LeavingMarketplace)
    ref = back_and_leaving_again(world)  # 08:00; leaves 10:00, back 10:10, leaves again 10:25

    world.at(hour(10, 57))
    ahead = {**legacy_usage(world, "stamped-ahead", 8), "timestamp": (hour(11, 1)).isoformat()}
    try:
        answered = 8 * len(world.record(ahead).accepted)
    except UsageRejected:
        answered = 0  # refused: nothing promised
    assert answered == 8  # the 11:00 hour is within their cutoff's

    world.at(hour(10, 58))
    legacy_sns(world, "subscription_unsubscribe-success.txt")  # the 10:00 leave's, two minutes early
    world.at(hour(11, 25) + timedelta(milliseconds=300))
    legacy_sns(world, "subscription_unsubscribe-success.txt")  # their own: Marketplace takes no more
    marketplace.closes = world.clock.now()
    world.at(hour(13, 10))

    customer = world.customers.get(ref)
    assert customer is not None
    billed = sum(world.billed_hours().values())
    refused = sum(int(r.quantity) for r in marketplace.refused)
    assert billed == answered, (
        f"answered 200 for {answered} units, billed {billed}, {refused} refused CustomerNotSubscribed (cutoff "
        f"{customer.final_usage_cutoff:%H:%M:%S}, ended {customer.state_changed_at:%H:%M:%S})"
    )
