"""Attack 80 on f4c80a2 (``_closes_of``: an end closing no leave is the close itself). A legacy buyer subscribed at
08:00 left at 08:30, that unsubscribe-pending never recorded (its handling failed until the lifecycle queue moved it
to its dead-letter queue: the shape attack 76's own test uses), came back at 09:00 (within their final hour; their
subscribe-success heard), and AWS's unsubscribe-success of the first leave came at 09:30. They leave again at 11:00
(pending and success at 12:00 heard) and come back at 14:00. Every message but the lost pending is heard.

``_earlier_terms`` reads the lone success of 09:30 as a close key: the first term is 08:00-09:30, and the next key,
the pending of 11:00, starts its term at the first activation *after* 09:30: there is none (the return was at 09:00,
before the success), so the second subscription (09:00 until Marketplace stopped taking its records at 12:00) has no
earlier term at all. Usage the buyer stamped 09:30-12:00, in a subscription Marketplace held and took records for, is
refused as "before this buyer's subscription started (14:00)". On bb8a4a7 the lone success was read as a leave with
the term 08:00-10:30, so 09:30-10:30 was taken: f4c80a2 refuses an hour more of the buyer's own usage, and 10:30-12:00
was refused on both.

Broken: the buyer's own usage (stamped in an earlier subscription of theirs, from its start to its close) is taken
and billed late. 2.5 hours of their usage refused (revenue lost): 5 units at each stamp below, 20 in all."""

from __future__ import annotations

from decimal import Decimal

from functions.customers.subscription import LifecycleKind, buyer_times
from tests.unit.lifecycle_events import at, legacy_usage_answer, times_at

A, P, S = LifecycleKind.ACTIVATED, LifecycleKind.ENDING, LifecycleKind.ENDED
EVENTS = ((A, (8, 0)), (A, (9, 0)), (S, (9, 30)), (P, (11, 0)), (S, (12, 0)), (A, (14, 0)))


def test_the_subscription_after_a_quick_return_is_an_earlier_term() -> None:
    times = buyer_times(None, {}, times_at(*EVENTS))
    assert times.started == at(14)
    # on f4c80a2: ((08:00, 09:30),): the subscription 09:00-12:00 is no term of theirs
    assert any(start <= at(10, 0) < end and start <= at(11, 30) < end for start, end in times.earlier_terms)


def test_usage_in_the_subscription_after_a_quick_return_is_taken() -> None:
    seen = [(kind, at(*moment)) for kind, moment in EVENTS]
    stored = sum(
        (
            legacy_usage_answer("quick-return", seen, used_at=at(h, m), sent_at=at(14, 30))[0]
            for h, m in ((9, 40), (10, 10), (10, 40), (11, 30))
        ),
        Decimal(0),
    )
    # on f4c80a2: 0 (each refused as before the subscription started at 14:00); on bb8a4a7 10 (09:40, 10:10)
    assert stored == Decimal(20), "the buyer's own usage refused"
