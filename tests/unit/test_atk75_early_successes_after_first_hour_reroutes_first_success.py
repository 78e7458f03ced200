"""Attack 75 (on 495c0f1, ``_closes``). The simulator draws a leave's unsubscribe-success within five minutes either
side of its pending's hour (docs/simulation.md, "A leave's closing message"); 495c0f1 pairs a success *after* some
pending's hour before any nearer one, as if no success were ever early. A legacy buyer leaves at 05:49:04.727, is back
at 05:57:18.297 and leaves again at 06:00:03.338 (Marketplace takes their records until 07:00:03.338). The first
leave's success comes 3m17s before its hour (06:45:47.535), the second's 3m08s before its own (06:56:55.742), which is
7m51s after the first's hour. 495c0f1 gives the second success to the first pending (it is "after" that hour); the
first success, 14 minutes from the second pending's hour, then closes the second leave in step 2: the buyer reads ENDED
at 06:45:47.535, 11 minutes before their own success and 14 before Marketplace's close ("Customer Ended" early, usage
before the cutoff refused). On 6ce9ccf (nearest first) each success closes its own leave: ENDED at 06:56:55.742. A
second shape: the first success 3 s before its hour and the second 4 minutes before its own hour (2m47s after the
first's) ends the buyer on the first leave's success, 3 minutes before their own."""

from __future__ import annotations

from datetime import UTC, datetime

from functions.customers.model import SubscriptionState
from functions.customers.subscription import LifecycleKind, buyer_times
from tests.unit.lifecycle_events import times_of


def _at(hour: int, minute: int, second: int, ms: int) -> datetime:
    return datetime(2026, 11, 24, hour, minute, second, ms * 1000, tzinfo=UTC)


def test_the_second_leaves_early_success_does_not_hand_the_first_success_to_the_second_leave() -> None:
    events = (
        (LifecycleKind.ACTIVATED, _at(5, 30, 26, 656)),
        (LifecycleKind.ENDING, _at(5, 49, 4, 727)),
        (LifecycleKind.ACTIVATED, _at(5, 57, 18, 297)),  # back
        (LifecycleKind.ENDING, _at(6, 0, 3, 338)),  # leaving again
        (LifecycleKind.ENDED, _at(6, 45, 47, 535)),  # the first leave's success, 3m17s before its hour
        (LifecycleKind.ENDED, _at(6, 56, 55, 742)),  # the second's, 3m08s before its hour
    )
    derived = buyer_times(None, {}, times_of(*events))
    assert (derived.state, derived.ended) == (SubscriptionState.ENDED, _at(6, 56, 55, 742))


def test_two_early_successes_each_close_their_own_leave() -> None:
    events = (
        (LifecycleKind.ACTIVATED, _at(5, 52, 59, 106)),
        (LifecycleKind.ENDING, _at(6, 6, 56, 946)),
        (LifecycleKind.ACTIVATED, _at(6, 8, 40, 368)),  # back
        (LifecycleKind.ENDING, _at(6, 13, 49, 98)),  # leaving again
        (LifecycleKind.ENDED, _at(7, 6, 53, 985)),  # the first leave's success, 3 s before its hour
        (LifecycleKind.ENDED, _at(7, 9, 44, 453)),  # the second's, 4 minutes before its hour
    )
    derived = buyer_times(None, {}, times_of(*events))
    assert (derived.state, derived.ended) == (SubscriptionState.ENDED, _at(7, 9, 44, 453))
