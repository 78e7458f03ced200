"""The lifecycle state is the same for every ordering and duplication of a buyer's events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from functions.customers.model import SubscriptionState
from functions.customers.subscription import LifecycleKind, LifecycleTimes, buyer_times

T0 = datetime(2026, 11, 26, 10, tzinfo=UTC)


def replay(events: list[tuple[LifecycleKind, datetime]]) -> LifecycleTimes:
    times = LifecycleTimes()
    for kind, at in events:
        times = times.merge(kind, at)
    return times


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_buyer_life_in_order() -> None:
    assert replay([]).state is SubscriptionState.PENDING
    assert replay([(LifecycleKind.ACTIVATED, at(0))]).state is SubscriptionState.ACTIVE
    life = [(LifecycleKind.ACTIVATED, at(0)), (LifecycleKind.ENDING, at(60)), (LifecycleKind.ENDED, at(120))]
    assert replay(life[:2]).state is SubscriptionState.ENDING
    assert replay(life).state is SubscriptionState.ENDED


def test_a_late_deprovisioning_does_not_reopen_an_ended_subscription() -> None:
    # Given unsubscribe-success, then a License Deprovisioned event stamped later
    events = [(LifecycleKind.ACTIVATED, at(0)), (LifecycleKind.ENDED, at(120)), (LifecycleKind.ENDING, at(130))]
    # Then the subscription stays ended
    assert replay(events).state is SubscriptionState.ENDED


def test_a_newer_subscribe_success_after_the_end_is_a_resubscription() -> None:
    events = [(LifecycleKind.ACTIVATED, at(0)), (LifecycleKind.ENDED, at(60)), (LifecycleKind.ACTIVATED, at(90))]
    assert replay(events).state is SubscriptionState.ACTIVE


def test_subscribe_fail_fails_and_an_old_activation_does_not_undo_it() -> None:
    assert replay([(LifecycleKind.FAILED, at(5)), (LifecycleKind.ACTIVATED, at(1))]).state is SubscriptionState.FAILED


events_strategy = st.lists(
    st.tuples(st.sampled_from(list(LifecycleKind)), st.integers(min_value=0, max_value=30).map(at)), max_size=8
)


@given(events=events_strategy, data=st.data())
def test_every_ordering_and_duplication_ends_in_the_same_state(events, data) -> None:
    # Given a buyer's events, When they arrive shuffled and some of them twice
    shuffled = data.draw(st.permutations(events))
    duplicated = shuffled + data.draw(st.lists(st.sampled_from(events), max_size=4)) if events else shuffled
    # Then the state and its time are those of the events in order
    assert replay(duplicated).state is replay(events).state
    assert replay(duplicated).changed_at == replay(events).changed_at


def test_a_subscription_starts_at_its_first_activation_after_the_buyers_last_end() -> None:
    # a legacy customer identifier, reused: subscribed at 09, left (10, 11), subscribed again at 12 and 13
    legacy = LifecycleTimes()
    for kind, hour in (
        (LifecycleKind.ACTIVATED, 13),
        (LifecycleKind.ENDED, 11),
        (LifecycleKind.ACTIVATED, 9),
        (LifecycleKind.ENDING, 10),
        (LifecycleKind.ACTIVATED, 12),
    ):  # out of order, as SNS delivers
        legacy = legacy.merge(kind, _at(hour))
    assert buyer_times(None, {}, legacy).started == _at(12)
    # a renewal: the replaced agreement's end is no end of the subscription, which started at 09
    licence = LifecycleTimes().merge(LifecycleKind.ACTIVATED, _at(9)).merge(LifecycleKind.ACTIVATED, _at(12))
    replaced = LifecycleTimes().merge(LifecycleKind.ACTIVATED, _at(9)).merge(LifecycleKind.ENDING, _at(11))
    renewal = LifecycleTimes().merge(LifecycleKind.ACTIVATED, _at(11))
    assert buyer_times(licence, {"old": replaced, "new": renewal}, None).started == _at(9)


def _at(hour: int) -> datetime:
    return datetime(2026, 11, 26, hour, tzinfo=UTC)


def test_a_legacy_buyer_leaving_a_second_time_keeps_their_second_subscriptions_start() -> None:
    """Simulator seed 189228: a legacy buyer subscribed at 09, left at 10, subscribed again at 12 before that leave's
    unsubscribe-success (stamped 13), and left again at 14. The latest ending (14) and ended (13) left no end before
    12: the subscription seemed to start at 09, usage of 10-12 was theirs, and their last hour's carry was placed in
    the first subscription's hours (one in the month before, refused past its cutoff)."""
    legacy = LifecycleTimes()
    for kind, hour in (
        (LifecycleKind.ACTIVATED, 9),
        (LifecycleKind.ENDING, 10),
        (LifecycleKind.ACTIVATED, 12),
        (LifecycleKind.ENDED, 13),  # the first subscription's unsubscribe-success, after the second began
        (LifecycleKind.ENDING, 14),
    ):
        legacy = legacy.merge(kind, _at(hour))
    times = buyer_times(None, {}, legacy)
    assert (times.started, times.state) == (_at(12), SubscriptionState.ENDING)


@given(events=events_strategy, data=st.data())
def test_a_legacy_buyers_subscription_start_is_the_same_for_every_ordering_and_duplication(events, data) -> None:
    # Given a legacy identifier's events (reused when the buyer comes back), When they arrive shuffled and some twice
    shuffled = data.draw(st.permutations(events))
    duplicated = shuffled + data.draw(st.lists(st.sampled_from(events), max_size=4)) if events else shuffled
    # Then the start of their subscription is the one of the events in order (attack 41: the sets of ends)
    assert buyer_times(None, {}, replay(duplicated)).started == buyer_times(None, {}, replay(events)).started


def test_a_legacy_leave_after_the_leave_of_the_latest_activations_subscription_has_an_unheard_start() -> None:
    """Attack 74: subscribed at 08, left at 09 (ended at 10), back at 12 with the subscribe-success still on its way,
    leaving again at 13. The leave of 13 is a later subscription's: it started after 09 and by 13, not at 08."""
    legacy = LifecycleTimes()
    for kind, hour in (
        (LifecycleKind.ACTIVATED, 8),
        (LifecycleKind.ENDING, 9),
        (LifecycleKind.ENDED, 10),
        (LifecycleKind.ENDING, 13),
    ):
        legacy = legacy.merge(kind, _at(hour))
    times = buyer_times(None, {}, legacy)
    assert (times.state, times.started, times.started_after, times.started_by) == (
        SubscriptionState.ENDING,
        None,
        _at(9),
        _at(13),
    )
    # the subscribe-success of 12 comes: the start is known
    times = buyer_times(None, {}, legacy.merge(LifecycleKind.ACTIVATED, _at(12)))
    assert (times.started, times.started_after, times.started_by) == (_at(12), None, None)


def test_a_licence_leaves_ended_and_deprovisioned_are_one_leave() -> None:
    # a licence buyer's leave comes twice (the agreement's Ended, the licence's Deprovisioned): one subscription's
    licence = LifecycleTimes().merge(LifecycleKind.ACTIVATED, _at(8)).merge(LifecycleKind.ENDING, _at(10))
    agreement = LifecycleTimes().merge(LifecycleKind.ACTIVATED, _at(8)).merge(LifecycleKind.ENDING, _at(9))
    times = buyer_times(licence, {"agmt": agreement}, None)
    assert (times.started, times.started_after, times.started_by) == (_at(8), None, None)


@given(events=events_strategy, data=st.data())
def test_a_legacy_buyers_unheard_start_is_the_same_for_every_ordering_and_duplication(events, data) -> None:
    shuffled = data.draw(st.permutations(events))
    duplicated = shuffled + data.draw(st.lists(st.sampled_from(events), max_size=4)) if events else shuffled

    def bounds(times: LifecycleTimes) -> tuple[datetime | None, ...]:
        derived = buyer_times(None, {}, times)
        return derived.started, derived.started_after, derived.started_by

    assert bounds(replay(duplicated)) == bounds(replay(events))
