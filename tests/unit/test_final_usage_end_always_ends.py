"""No buyer stays ``ending`` for ever: the final-usage step records the end of their final hour an hour after it
opened, and an end stamped so ends them whatever else their subject saw. Here a legacy buyer left over SNS at 10:00,
came back at 10:10 and left again at 10:20 by their licence (a listing that moved to EventBridge); the step's end at
11:20 falls within two hours of the earlier leave's pending, so as an end of no leave of its own it was ignored and
the buyer read ``ending`` for ever (the step finding them still ending each time it ran)."""

from __future__ import annotations

from functions.customers.model import SubscriptionState
from functions.customers.subscription import LifecycleKind, buyer_times
from tests.unit.lifecycle_events import at, times_of

LEGACY = (
    (LifecycleKind.ACTIVATED, at(9)),  # subscribe-success
    (LifecycleKind.ENDING, at(10)),  # unsubscribe-pending
    (LifecycleKind.ACTIVATED, at(10, 10)),  # subscribe-success: back
    (LifecycleKind.ENDED, at(11)),  # unsubscribe-success of the leave at 10:00
)
STEPS_END = (LifecycleKind.ENDED, at(11, 20))  # the final-usage step: the final hour opened at 10:20 is over


def test_the_final_usage_steps_end_ends_a_buyer_back_and_gone_again_by_their_licence() -> None:
    licence = times_of((LifecycleKind.ACTIVATED, at(10, 10)), (LifecycleKind.ENDING, at(10, 20)))  # Deprovisioned
    leaving = buyer_times(licence, {}, times_of(*LEGACY))
    assert (leaving.state, leaving.changed_at) == (SubscriptionState.ENDING, at(10, 20))
    ended = buyer_times(licence, {}, times_of(*LEGACY, STEPS_END))
    assert (ended.state, ended.changed_at) == (SubscriptionState.ENDED, at(11, 20))
