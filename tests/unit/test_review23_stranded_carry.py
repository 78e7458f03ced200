"""Review of issue 23: a leaving buyer's carry placed in an earlier hour of theirs (before the unsent mark) and left
unsent by a failed final-usage step is never sent by anyone once the flush has sealed the final hour: the flush reads
unsent records from its mark on, and the step, retried, finds no carry to place any more (placed carries are no longer
"carried into" their hour). It stays pending for ever: neither billed nor parked, nor counted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from functions.clock import ManualClock
from functions.flush.records import BatchOutcome, MeteringRecord, MeteringUnavailable
from functions.usage.model import MAX_INTEGER_QUANTITY
from tests.fakes import FakeMarketplace
from tests.unit.review23_world import World, hour


class DownUntil(FakeMarketplace):
    """Marketplace throttling every call until ``until`` (an afternoon of ThrottlingException)."""

    def __init__(self, clock: ManualClock, until: datetime) -> None:
        super().__init__()
        self._clock, self._until = clock, until

    def batch_meter_usage(self, records: Sequence[MeteringRecord]) -> BatchOutcome:
        if self._clock.now() < self._until:
            raise MeteringUnavailable("ThrottlingException", "Rate exceeded")
        return super().batch_meter_usage(records)


def test_a_placed_carry_left_unsent_by_a_failed_final_usage_step_is_sent_later_or_parked() -> None:
    world = World(marketplace=lambda clock: DownUntil(clock, hour(11, 8)))
    world.subscribe()  # 08:00
    world.at(
        hour(
            10,
            0,
        )
    )
    world.send("license_deprovisioned.json")  # leaving at 10:00: usage taken until 10:45, sent at 10:46:30
    world.at(hour(10, 5))
    assert world.record(world.usage_event("big-1", 2_000_000_000), world.usage_event("big-2", 2_000_000_000)).accepted
    # When Marketplace throttles until 11:08: the final-usage step fails at 10:46:30 and 10:58:30 (SQS redelivers its
    # message), the flush seals 10:00 at 11:06 (its sends fail too), and the step's next try, 11:10:30, and the
    # flush's runs after it find Marketplace back
    world.at(hour(14, 10))
    # Then every unit is billed (10:00 at the maximum, the carry in 09:00, a free hour of the buyer's), or parked
    billed = world.billed_hours()
    parked = {k: r for k, r in world.ledger.results.items() if r.status != "sent"}
    pending = [r for (r, s) in world.ledger.records.values() if s == "pending"]
    assert billed.get(hour(10)) == MAX_INTEGER_QUANTITY
    assert pending == [], f"left unsent for ever: {[(r.hour, r.quantity) for r in pending]}"
    assert sum(billed.values()) + sum(r.record.quantity for r in parked.values()) == 4_000_000_000
