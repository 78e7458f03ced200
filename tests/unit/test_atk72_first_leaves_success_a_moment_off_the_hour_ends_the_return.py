"""Attack 72 (on 6eaaccc, ``_closes``/``_came_back_between``). Attack 44's buyer, no message lost, with AWS's real
timestamps. A legacy buyer leaves at 10:00, is back at 10:10 and leaves again at 10:25 (their cutoff 11:10). The first
leave's unsubscribe-success comes on time: its SNS ``Timestamp`` 250 ms after the hour (11:00:00.250). SNS stamps each
message when Marketplace publishes it, to the millisecond; two separate publishes an hour apart are not 3,600.000 s
apart, so "exactly ``FINAL_USAGE_WINDOW`` after a pending" is met by the final-usage step's own stamp and the
simulator, never by AWS. 6eaaccc skips the 10:00 pending (the buyer came back from it before this success) and closes
the 10:25 one: the buyer reads ENDED at 11:00:00.250, "Customer Ended" is published 25 minutes before Marketplace's
own end, and their final-hour usage of 11:05 (before their cutoff) is refused though Marketplace bills it. attack 44's
test passes only because its success is stamped 11:00:00.000. So the "ambiguous case" 6eaaccc accepts is every
return-and-leave-again with nothing lost, not a rare one (before 6eaaccc, the success closed the 10:00 pending and the
buyer read ENDING until their own success at 11:25). Correct: the first leave's on-time success does not end the
second leave; usage before the cutoff is taken and billed."""

from __future__ import annotations

from datetime import timedelta

from functions.customers.model import SubscriptionState
from functions.customers.subscription import LifecycleKind, LifecycleTimes, buyer_times
from functions.lifecycle.service import CUSTOMER_ENDED
from functions.seller_events import RecordingPublisher
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

JITTER = timedelta(milliseconds=250)  # how far an AWS message an hour after another lands off the exact hour


def test_the_on_time_success_of_the_first_leave_does_not_end_the_second() -> None:
    times = LifecycleTimes()
    for kind, at in (
        (LifecycleKind.ACTIVATED, hour(9)),
        (LifecycleKind.ENDING, hour(10)),
        (LifecycleKind.ACTIVATED, hour(10, 10)),
        (LifecycleKind.ENDING, hour(10, 25)),
        (LifecycleKind.ENDED, hour(11) + JITTER),  # the 10:00 leave's success, 250 ms after the hour
    ):
        times = times.merge(kind, at)
    derived = buyer_times(None, {}, times)
    assert derived.state is SubscriptionState.ENDING, f"{derived.state} since {derived.changed_at}"
    assert derived.changed_at == hour(10, 25)


def test_their_final_hour_is_taken_and_billed_and_no_early_end_is_published() -> None:
    world = World(product=LEGACY, marketplace=LeavingMarketplace)
    marketplace = world.marketplace
    assert isinstance(marketplace, LeavingMarketplace)
    publisher = world.lifecycle.publisher
    assert isinstance(publisher, RecordingPublisher)
    back_and_leaving_again(world)  # 08:00; leaves 10:00, back 10:10, leaves again 10:25
    world.at(hour(11) + JITTER)
    legacy_sns(world, "subscription_unsubscribe-success.txt")  # the 10:00 leave's, on time
    ended_early = [e.detail["state_changed_at"] for e in publisher.events if e.detail_type == CUSTOMER_ENDED]

    world.at(hour(11, 5))
    try:
        answered = 6 * len(world.record(legacy_usage(world, "final-minutes", 6)).accepted)
    except UsageRejected as refusal:
        answered = 0
        refused = str(refusal)
    else:
        refused = ""
    world.at(hour(11, 25) + JITTER)
    legacy_sns(world, "subscription_unsubscribe-success.txt")  # their own: Marketplace takes no more
    marketplace.closes = hour(11, 25) + JITTER
    world.at(hour(13, 10))

    assert ended_early == [], f"Customer Ended published at {ended_early}, 25 minutes before Marketplace's end"
    assert answered == 6, f"usage of their final hour, before their cutoff (11:10), refused: {refused}"
    assert sum(world.billed_hours().values()) == 6
