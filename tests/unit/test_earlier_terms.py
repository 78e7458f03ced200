"""A buyer back on the same licence or legacy identifier owes the late usage of their earlier subscription: each
earlier subscription runs from its start to an hour after its leave (``LifecycleTimes.earlier_terms``), and ingest
takes usage stamped in one, billed in an hour still open. Simulator invariant 8 found 74 of seeds 0-999 refusing it
("before this buyer's subscription started") once the buyer was back: revenue lost without a trace."""

from __future__ import annotations

from decimal import Decimal

from functions.customers.subscription import LifecycleKind, buyer_times
from tests.unit.lifecycle_events import at, legacy_usage_answer, times_at, times_of

A, P, S = LifecycleKind.ACTIVATED, LifecycleKind.ENDING, LifecycleKind.ENDED


def test_a_legacy_buyer_back_has_their_left_subscription_as_an_earlier_term() -> None:
    legacy = times_at((A, (8, 0)), (P, (9, 0)), (S, (10, 0)), (A, (12, 0)))
    times = buyer_times(None, {}, legacy)
    assert (times.started, times.earlier_terms) == (at(12), ((at(8), at(10)),))


def test_two_earlier_subscriptions_are_two_terms_and_the_gaps_between_are_not_theirs() -> None:
    legacy = times_at((A, (6, 0)), (P, (6, 30)), (S, (7, 30)), (A, (8, 0)), (P, (9, 0)), (S, (10, 0)), (A, (12, 0)))
    assert buyer_times(None, {}, legacy).earlier_terms == ((at(6), at(7, 30)), (at(8), at(10)))


def test_a_buyer_back_within_the_final_hour_has_no_gap() -> None:
    legacy = times_at((A, (8, 0)), (P, (9, 0)), (A, (9, 20)))
    times = buyer_times(None, {}, legacy)
    assert (times.started, times.earlier_terms) == (at(9, 20), ((at(8), at(10)),))


def test_a_licence_buyer_back_on_their_licence_under_a_new_agreement() -> None:
    licence = times_at((A, (8, 0)), (P, (10, 0)), (A, (12, 0)))
    first = times_at((A, (8, 0)), (P, (9, 0)))
    second = times_at((A, (12, 0)))
    times = buyer_times(licence, {"agmt-1": first, "agmt-2": second}, None)
    assert times.started == at(12)
    # the agreement's Ended at 09 opened the final hour; the Deprovisioned at 10 closed it and starts nothing
    assert times.earlier_terms == ((at(8), at(10)),)


def test_a_buyer_never_gone_has_no_earlier_term() -> None:
    renewed = times_of((A, at(8)), (A, at(9)))
    assert buyer_times(None, {}, renewed).earlier_terms == ()


def test_late_usage_of_the_earlier_subscription_is_taken_and_gap_usage_refused() -> None:
    events = ((A, at(8)), (P, at(9)), (S, at(10)), (A, at(12)))
    assert legacy_usage_answer("back", events, used_at=at(9, 45), sent_at=at(12, 30)) == (Decimal(5), "")
    for stamp in (at(10, 30), at(7, 59)):  # between the two; before the first
        stored, refusal = legacy_usage_answer("back", events, used_at=stamp, sent_at=at(12, 30))
        assert (stored, "before this buyer's subscription started" in refusal) == (Decimal(0), True), stamp
