"""The other reading of attack 45's messages, and what its fix costs there. A legacy buyer leaves at 10:00, is back at
10:10 and leaves again at 10:40 (attack 44's buyer, later); the first leave's unsubscribe-success comes "about an
hour" after its pending, as AWS promises it, never exactly (each message is stamped to the millisecond: attack 72).
Within ``ABOUT_AN_HOUR`` of that hour it is that leave's close, and the buyer reads ``ending`` until their own
success. Further from it (here 11:15, 75 minutes on) it reads as attack 45's: the second leave's quick success, the
first's lost. Nothing tells the two apart there, so it ends them at once, 10 minutes before their cutoff (10:40 + 45
minutes): their usage of those minutes is refused (4xx), lost revenue but never answered 200 and then left unbilled,
and their own success, when it comes, reopens nothing."""

from __future__ import annotations

from decimal import Decimal

from functions.customers.model import SubscriptionState
from functions.customers.subscription import LifecycleKind, buyer_times
from tests.unit.lifecycle_events import at, legacy_usage_answer, times_at

IDENTIFIER = "back-and-gone-off-the-hour"
LEAVES = (
    (LifecycleKind.ACTIVATED, (9, 0)),  # subscribe-success
    (LifecycleKind.ENDING, (10, 0)),  # unsubscribe-pending
    (LifecycleKind.ACTIVATED, (10, 10)),  # subscribe-success: back within that leave's final hour
    (LifecycleKind.ENDING, (10, 40)),  # unsubscribe-pending: leaving again
)
NEAR = (LifecycleKind.ENDED, (11, 2))  # the leave at 10:00's success, 62 minutes on: within ABOUT_AN_HOUR of its hour
FAR = (LifecycleKind.ENDED, (11, 15))  # 75 minutes on: beyond it


def test_a_success_near_the_first_leaves_hour_is_its_close_and_they_stay_ending_until_their_own() -> None:
    derived = buyer_times(None, {}, times_at(*LEAVES, NEAR))
    assert derived.started == at(10, 10)
    assert (derived.state, derived.changed_at) == (SubscriptionState.ENDING, at(10, 40))
    for own in ((11, 40), (11, 46)):  # their own success, an hour after their pending or not
        both = buyer_times(None, {}, times_at(*LEAVES, NEAR, (LifecycleKind.ENDED, own)))
        assert (both.state, both.changed_at) == (SubscriptionState.ENDED, at(*own))


def test_a_success_far_from_it_ends_them_and_their_own_reopens_nothing() -> None:
    derived = buyer_times(None, {}, times_at(*LEAVES, FAR))
    assert derived.started == at(10, 10)
    assert (derived.state, derived.changed_at) == (SubscriptionState.ENDED, at(11, 15))
    for own in ((11, 40), (11, 46)):
        both = buyer_times(None, {}, times_at(*LEAVES, FAR, (LifecycleKind.ENDED, own)))
        assert both.state is SubscriptionState.ENDED, f"{both.state} since {both.changed_at} once {own} came"


def test_their_usage_after_the_far_success_is_refused_not_taken_unbilled() -> None:
    events = [(kind, at(hour, minute)) for kind, (hour, minute) in (*LEAVES, FAR)]
    stored, refusal = legacy_usage_answer(IDENTIFIER, events, used_at=at(11, 16), sent_at=at(11, 17))
    assert stored == Decimal(0), f"{stored} units accepted after Marketplace stopped taking their records"
    assert "ended" in refusal
