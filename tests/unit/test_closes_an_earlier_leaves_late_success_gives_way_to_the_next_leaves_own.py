"""``_closes``, its second step (judged over random legacy histories with the simulator's closing times, for seed
701627's fix). A legacy buyer leaves at 07:08, is back at 07:18 and leaves again at 07:27 (Marketplace takes their
records until 08:27). The first leave's unsubscribe-success comes 16 minutes after that leave's hour, at 08:24: more
than ``ABOUT_AN_HOUR`` off it, 3 minutes before the second leave's hour. The second leave's own comes at 08:28. Taking
the successes in time order alone, the first closes the second leave (the only pending near it) and the buyer's own
finds it closed: ended at 08:24, 3 minutes before their close. Of the successes near the second leave's hour, its own
is the nearer and closes it. (With only the 08:24 success seen, it still reads as the second leave's, early:
docs/metering.md rule 5.)"""

from __future__ import annotations

from functions.customers.model import SubscriptionState
from functions.customers.subscription import LifecycleKind, buyer_times
from tests.unit.lifecycle_events import at, times_at

LEAVES = (
    (LifecycleKind.ACTIVATED, (5, 37)),
    (LifecycleKind.ENDING, (7, 8)),
    (LifecycleKind.ACTIVATED, (7, 18)),  # back
    (LifecycleKind.ENDING, (7, 27)),  # leaving again
    (LifecycleKind.ENDED, (8, 24)),  # the first leave's success, 16 minutes after its hour
)
OWN = (LifecycleKind.ENDED, (8, 28))  # the second leave's, a minute after its hour


def test_the_second_leaves_own_success_closes_it_not_the_first_leaves_late_one() -> None:
    derived = buyer_times(None, {}, times_at(*LEAVES, OWN))
    assert (derived.state, derived.changed_at) == (SubscriptionState.ENDED, at(8, 28))
