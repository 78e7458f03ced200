"""The call schedule every BatchMeterUsage sender shares (``functions/flush/quota.py``, an item of the metering table),
in the simulated world: each reservation a write at the store's latency, where other actors run."""

from __future__ import annotations

from sim.scheduler import Scheduler
from tests.fakes import InMemoryQuotaSlots

RESERVE_SECONDS = 0.005  # one conditional update of the schedule's item


class SimQuotaSlots:
    """No fault is drawn here: a reservation that fails, or whose invocation dies, is a call not made, which the
    Marketplace call's own fault points (just after it) already are."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.inner = InMemoryQuotaSlots()
        self._scheduler = scheduler

    def reserve(self, count: int, interval: float, now: float) -> float:
        self._scheduler.sleep(RESERVE_SECONDS)
        return self.inner.reserve(count, interval, now)
