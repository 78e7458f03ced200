"""Attack 45 (on f0fea20, ``_closes``: "each [success closes] the earliest pending still open within two hours before
it"; f0fea20 says a quick success now "ends a buyer whatever the identifier's history"). A pending stays open for ever
when its unsubscribe-success is lost (SNS loses messages) and the buyer came back within its final hour (the final-usage
step then finds them active and records no end for it). A legacy buyer leaves at 10:00, is back at 10:10 (that leave's
success lost), and leaves again at 11:00; their unsubscribe-success comes 25 minutes later (attack 44's quick success:
AWS promises "about an hour", nothing tighter), at 11:25. It closes the earliest pending open in the two hours before
it: 10:00, the earlier leave's. Their own pending (11:00) stays open: they read ENDING until the final-usage step ends
them at 12:00, so usage they send between 11:25 and their cutoff (11:45) is answered 200, stored and sent after
Marketplace stopped taking their records: accepted, never billed. The same three messages end a buyer without that
earlier leave at 11:25."""

from __future__ import annotations

from decimal import Decimal

from functions.customers.model import SubscriptionState
from functions.customers.subscription import LifecycleKind, buyer_times
from tests.unit.lifecycle_events import at, legacy_usage_answer, times_at

IDENTIFIER = "back-and-quick-to-go"
EARLIER = (
    (LifecycleKind.ACTIVATED, (9, 0)),  # subscribe-success
    (LifecycleKind.ENDING, (10, 0)),  # unsubscribe-pending (its unsubscribe-success lost)
)
THIS = (
    (LifecycleKind.ACTIVATED, (10, 10)),  # subscribe-success: back within that leave's final hour
    (LifecycleKind.ENDING, (11, 0)),  # unsubscribe-pending
    (LifecycleKind.ENDED, (11, 25)),  # unsubscribe-success, 25 minutes on: no more records accepted
)


def test_their_quick_success_ends_them_after_an_earlier_leaves_success_was_lost() -> None:
    assert buyer_times(None, {}, times_at(*THIS)).state is SubscriptionState.ENDED  # without the earlier leave
    derived = buyer_times(None, {}, times_at(*EARLIER, *THIS))
    assert derived.started == at(10, 10)
    assert derived.state is SubscriptionState.ENDED, f"{derived.state} since {derived.changed_at}: success ignored"
    assert derived.changed_at == at(11, 25)


def test_usage_sent_after_their_unsubscribe_success_is_refused() -> None:
    events = [(kind, at(hour, minute)) for kind, (hour, minute) in (*EARLIER, *THIS)]
    stored, refusal = legacy_usage_answer(IDENTIFIER, events, used_at=at(11, 30), sent_at=at(11, 32))
    assert stored == Decimal(0), f"{stored} units accepted after Marketplace stopped taking their records"
    assert "ended" in refusal
