"""Attack 76: ``_earlier_terms`` ends each earlier subscription an hour after its leave, reading the leaves from
``_leaves``: every unsubscribe-pending, and every unsubscribe-success closing no pending (``_own_ends``: its pending
never recorded, as one whose handling kept failing until the lifecycle queue moved it to its dead-letter queue; or
the final-usage step's end). But an unsubscribe-success is the *close*: AWS sends it once the final hour is over and
Marketplace takes nothing more. Read as a leave, the term runs an hour past it: a legacy buyer subscribed at 08:00,
their unsubscribe-pending of 09:00 lost, their unsubscribe-success of 10:00 heard, back at 12:00, has the earlier
term 08:00-11:00, and usage stamped 10:00-11:00, after Marketplace stopped taking theirs and before they came back,
is answered 200 and billed late. On 4a498ad (no earlier terms) it was refused; the product knows the success is a
close (``_legacy_end`` ends a subscription at it).

Broken: usage stamped between two subscriptions is never billed. An hour of the buyer's gap usage (here 5 units)."""

from __future__ import annotations

from decimal import Decimal

from functions.customers.subscription import LifecycleKind, buyer_times
from tests.unit.lifecycle_events import at, legacy_usage_answer, times_at

A, S = LifecycleKind.ACTIVATED, LifecycleKind.ENDED
PENDING_LOST = ((A, at(8)), (S, at(10)), (A, at(12)))


def test_a_term_whose_pending_was_lost_ends_at_its_close() -> None:
    times = buyer_times(None, {}, times_at((A, (8, 0)), (S, (10, 0)), (A, (12, 0))))
    assert (times.started, times.earlier_terms) == (at(12), ((at(8), at(10)),)), "on atk76: 08:00-11:00"


def test_usage_after_the_close_is_not_billed() -> None:
    stored, refusal = legacy_usage_answer("lost-pending", PENDING_LOST, used_at=at(10, 30), sent_at=at(12, 30))
    # on atk76: (5, ""): taken as the earlier subscription's and billed in the hour of 12:00
    assert (stored, "before this buyer's subscription started" in refusal) == (Decimal(0), True)
