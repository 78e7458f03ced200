"""Simulator seed 701627 (``make sim SEED=701627 RANDOM_SETTINGS=1 QUICK_RETURNS=1``, on 6ce9ccf). A legacy buyer
leaves at 06:49:06, is back at 06:57:32 and leaves again at 07:02:39. The first leave's unsubscribe-success comes 7
minutes after that leave's hour, at 07:56:08; the second's at 08:12:06. Both successes' first pairing was to the
nearest pending's hour: 07:56:08 is 7 minutes after 06:49:06's hour but 6.5 minutes *before* 07:02:39's, so it was
taken for the second leave's, closing it before its hour was over; the buyer read ended at 07:56:08, Customer Ended
published and usage before their cutoff refused, 6.5 minutes before Marketplace stopped taking their records. AWS
publishes a success when the hour is over or later, so a success after a pending's hour comes before one before
another's (``_closes``)."""

from __future__ import annotations

from datetime import UTC, datetime

from functions.customers.model import SubscriptionState
from functions.customers.subscription import LifecycleKind, buyer_times
from tests.unit.lifecycle_events import times_of


def _at(hour: int, minute: int, second: int) -> datetime:
    return datetime(2026, 11, 24, hour, minute, second, tzinfo=UTC)


EVENTS = (
    (LifecycleKind.ACTIVATED, _at(5, 9, 28)),
    (LifecycleKind.ENDING, _at(6, 49, 6)),
    (LifecycleKind.ACTIVATED, _at(6, 57, 32)),  # back
    (LifecycleKind.ENDING, _at(7, 2, 39)),  # leaving again
    (LifecycleKind.ENDED, _at(7, 56, 8)),  # the first leave's success, 7 minutes after its hour
)


def test_the_first_leaves_late_success_leaves_the_second_leave_open() -> None:
    derived = buyer_times(None, {}, times_of(*EVENTS))
    assert (derived.state, derived.changed_at) == (SubscriptionState.ENDING, _at(7, 2, 39))


def test_the_second_leaves_own_success_ends_them() -> None:
    derived = buyer_times(None, {}, times_of(*EVENTS, (LifecycleKind.ENDED, _at(8, 12, 6))))
    assert (derived.state, derived.changed_at) == (SubscriptionState.ENDED, _at(8, 12, 6))
