"""Attack 44 (on b152591, ``_closed_by``/``_legacy_end``). AWS says an unsubscribe-success comes "about one hour" after
its unsubscribe-pending and promises nothing tighter; after it Marketplace takes no more records. One that comes 25
minutes after its pending ends a first-time buyer at once (the only pending before it is theirs), but a buyer whose
identifier was used before (an earlier subscription left, its pending kept for ever in ``lc_ending_times``) is not ended
by it: the latest pending 30 minutes or more before it is the earlier subscription's, so ``_closed_by`` names that one
and the success is taken for an old leave's. Before b152591 it ended them. They stay ENDING until their cutoff (pending
+ 45 minutes) and the final-usage step's end an hour after the pending; usage they send after the success is answered
200, stored, and sent in their final usage after Marketplace stopped taking records: accepted, never billed. The same
events end one buyer and not another, by history that has nothing to do with this leave."""

from __future__ import annotations

from decimal import Decimal

from functions.customers.model import SubscriptionState
from functions.customers.subscription import LifecycleKind, buyer_times
from tests.unit.lifecycle_events import at, legacy_usage_answer, times_at

IDENTIFIER = "second-time-round"
EARLIER = (
    (LifecycleKind.ACTIVATED, (0, 0)),  # subscribe-success
    (LifecycleKind.ENDING, (1, 0)),  # unsubscribe-pending
    (LifecycleKind.ENDED, (2, 0)),  # unsubscribe-success
)
THIS = (
    (LifecycleKind.ACTIVATED, (5, 0)),  # subscribe-success: subscribed again on the same identifier
    (LifecycleKind.ENDING, (10, 0)),  # unsubscribe-pending
    (LifecycleKind.ENDED, (10, 25)),  # unsubscribe-success, 25 minutes on: no more records accepted
)


def test_a_quick_success_ends_the_buyer_whatever_their_identifiers_history() -> None:
    first_time = buyer_times(None, {}, times_at(*THIS))
    assert first_time.state is SubscriptionState.ENDED  # ended by it
    again = buyer_times(None, {}, times_at(*EARLIER, *THIS))
    assert again.started == at(5)
    assert again.state is SubscriptionState.ENDED, f"{again.state} since {again.changed_at}: the success was ignored"
    assert again.changed_at == at(10, 25)


def test_usage_sent_after_their_unsubscribe_success_is_refused() -> None:
    events = [(kind, at(hour, minute)) for kind, (hour, minute) in (*EARLIER, *THIS)]
    stored, refusal = legacy_usage_answer(IDENTIFIER, events, used_at=at(10, 28), sent_at=at(10, 30))
    assert stored == Decimal(0), f"{stored} units accepted after Marketplace stopped taking their records"
    assert "ended" in refusal
