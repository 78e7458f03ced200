"""Attack 78 (on 6fa0e8a, ``_closes``). A legacy buyer leaves and comes back three times within the hour: leaves at
06:42, back 06:56, leaves 07:04, back 07:07, leaves 07:17, back 07:41 and leaves for good at 08:06 (Marketplace takes
their records until 09:06). The first leave's unsubscribe-success comes 13 minutes after its hour (07:55: the
simulator draws one in five 5 to 20 minutes late), the second's 5 minutes after its own (08:09), the third's 3 minutes
after its own (08:20); every message is delivered within seconds.

6fa0e8a's first step gives 07:55 to the 07:04 leave (the only open pending near it) and 08:09 to the 07:17 leave;
08:20, coming last, finds both pendings near it closed. Its second step then hands the 07:17 leave its own (nearer)
08:20 and so frees 08:09, which nothing pairs again but the older second pass: it closes the earliest open pending
within two hours before it that the buyer did not come back from, the 08:06 leave, 3 minutes after it was left. When
08:20 arrives the buyer reads ENDED at 08:09: "Customer Ended" is published 46 minutes before Marketplace's close, the
final usage is sent with the cutoff moved to then, and their usage from 08:20 to their cutoff (08:51 at the default
45 minutes) is refused though Marketplace bills it. No message is lost or late, and the success that ends them is a
moment off its own leave's hour, not attack 45's success more than 10 minutes off it coming after the leave it ends
(docs/metering.md rule 5; invariant 6's exemption). Nearest first (6fa0e8a^) pairs 08:20 and 08:09 with their own
leaves; 07:55, before the 08:06 leave, closes nothing, and the buyer reads ENDING until their own success or the
final-usage step's end at 09:06."""

from __future__ import annotations

from decimal import Decimal

from functions.customers.model import SubscriptionState
from functions.customers.subscription import LifecycleKind, buyer_times
from tests.unit.lifecycle_events import at, legacy_usage_answer, times_at

IDENTIFIER = "three-times-back"
LEAVES = (
    (LifecycleKind.ACTIVATED, (5, 50)),
    (LifecycleKind.ENDING, (6, 42)),
    (LifecycleKind.ACTIVATED, (6, 56)),  # back
    (LifecycleKind.ENDING, (7, 4)),  # leaving again
    (LifecycleKind.ACTIVATED, (7, 7)),  # back
    (LifecycleKind.ENDING, (7, 17)),  # leaving again
    (LifecycleKind.ACTIVATED, (7, 41)),  # back
    (LifecycleKind.ENDING, (8, 6)),  # leaving for good: Marketplace takes their records until 09:06
    (LifecycleKind.ENDED, (7, 55)),  # the 06:42 leave's success, 13 minutes after its hour
    (LifecycleKind.ENDED, (8, 9)),  # the 07:04 leave's, 5 minutes after its hour
)
THIRDS = (LifecycleKind.ENDED, (8, 20))  # the 07:17 leave's, 3 minutes after its hour


def test_before_the_third_leaves_success_they_read_ending() -> None:
    derived = buyer_times(None, {}, times_at(*LEAVES))
    assert (derived.state, derived.changed_at) == (SubscriptionState.ENDING, at(8, 6))


def test_the_third_leaves_own_success_does_not_end_the_fourth_leave() -> None:
    derived = buyer_times(None, {}, times_at(*LEAVES, THIRDS))
    assert (derived.state, derived.changed_at) == (SubscriptionState.ENDING, at(8, 6)), (
        f"{derived.state} since {derived.changed_at}: 57 minutes before Marketplace's close (09:06)"
    )


def test_their_usage_before_the_cutoff_is_taken() -> None:
    events = [(kind, at(hour, minute)) for kind, (hour, minute) in (*LEAVES, THIRDS)]
    stored, refusal = legacy_usage_answer(IDENTIFIER, events, used_at=at(8, 25), sent_at=at(8, 25))
    assert stored == Decimal(5), f"usage of 08:25, before their cutoff (08:51), refused: {refusal}"
