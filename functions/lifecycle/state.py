"""The subscription state machine, as a function of the events seen so far rather than of their order.

Lifecycle notifications arrive duplicated and out of order. Instead of applying transitions one by one
(where the arrival order decides the outcome), each customer keeps the latest event time seen per kind
of event; merging is a per-kind maximum, which is commutative and idempotent, and the state is derived
from those times. So duplicates change nothing and every ordering of the same events ends in the same
state, and an old event never undoes a newer one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from functions.customers.model import SubscriptionState


class LifecycleKind(StrEnum):
    ACTIVATED = "activated"  # subscribe-success, Purchase Agreement Created, License Updated
    ENDING = "ending"  # unsubscribe-pending, Purchase Agreement Ended, License Deprovisioned
    ENDED = "ended"  # unsubscribe-success
    FAILED = "failed"  # subscribe-fail


@dataclass(frozen=True)
class LifecycleTimes:
    """Latest event time seen per kind; ``None`` where no such event was seen."""

    activated: datetime | None = None
    ending: datetime | None = None
    ended: datetime | None = None
    failed: datetime | None = None

    def merge(self, kind: LifecycleKind, at: datetime) -> LifecycleTimes:
        current: datetime | None = getattr(self, kind.value)
        if current is not None and current >= at:
            return self
        return replace(self, **{kind.value: at})

    @property
    def state(self) -> SubscriptionState:
        activated = self.activated
        # An unsubscribe that is not older than the latest activation belongs to the current subscription;
        # an activation newer than it is a re-subscription (legacy customer identifiers are reused).
        if self.ended is not None and (activated is None or self.ended >= activated):
            return SubscriptionState.ENDED
        if self.ending is not None and (activated is None or self.ending >= activated):
            return SubscriptionState.ENDING
        if self.failed is not None and (activated is None or self.failed > activated):
            return SubscriptionState.FAILED
        if activated is not None:
            return SubscriptionState.ACTIVE
        return SubscriptionState.PENDING

    @property
    def changed_at(self) -> datetime | None:
        """Time of the event that decided the current state."""
        times = [t for t in (self.activated, self.ending, self.ended, self.failed) if t is not None]
        return max(times, default=None)
