"""Attack 55 on 5be27d6: a first reconciliation reaching back to the first seal (up to CloudTrail's 90 days) reads all
of CloudTrail's event history from that hour in one go (``list(deps.trail.metering_results(hour))``) before it checks
``out_of_time`` again. LookupEvents gives 50 events a page, two pages a second per account and Region; the seller's
account logs every BatchMeterUsage call it makes, this stack's and those of products it meters outside this stack
(which ``ours`` then drops). A stack going live after a 30-day dry-run rehearsal (docs/go-live.md), on an account that
makes 200 calls an hour (a live integration of another product, or the one this stack replaces), has 144,000 events to
page through: 1,440 seconds, past the flush Lambda's 900-second timeout. The invocation is killed mid-read, having
reconciled no hour and published no ReconciliationHoursBehind (its alarm treats missing data as not breaching), and
the next run starts from the same mark and reads the same history: the reconciliation never moves again.

(The same read from 24 hours back, the start before this change, is 4,800 events: 48 seconds.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from functions.flush.audit import AuditDeps, TrailResult, ours_by, reconcile_due
from functions.flush.records import RetentionFloor
from functions.usage.model import HOUR, hour_of
from tests.fakes import InMemoryLedger

NOW = datetime(2026, 12, 6, 21, 12, tzinfo=UTC)  # the first live run's reconciliation
LAMBDA_TIMEOUT = timedelta(seconds=900)  # stacks/constructs/flush.py
RESERVE = timedelta(seconds=60)  # functions/flush/run.py RECONCILE_RESERVE_MS
PAGE = 50  # events a LookupEvents page holds
PAGE_TIME = timedelta(seconds=0.5)  # two LookupEvents a second per account and Region
CALLS_AN_HOUR = 200  # the account's BatchMeterUsage calls (another product's)


class Clock:
    def __init__(self) -> None:
        self.now = NOW


class PagedTrail:
    """CloudTrail's LookupEvents, paged: every 50 events cost half a second on ``clock``."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.starts: list[datetime] = []
        self.events_read = 0

    def metering_results(self, start: datetime, end: datetime | None = None) -> Iterator[TrailResult]:
        self.starts.append(start)
        hour = start
        while hour < hour_of(self.clock.now) and (end is None or hour + HOUR < end):
            call = TrailResult(
                "other-customer", None, "requests", hour, Decimal(1), "Success", "mr-x", hour + HOUR, "other-product"
            )
            for _ in range(CALLS_AN_HOUR):
                if self.events_read % PAGE == 0:
                    self.clock.now += PAGE_TIME
                self.events_read += 1
                yield call
            hour += HOUR


def test_a_first_reconciliation_30_days_back_gives_up_before_the_lambda_is_killed() -> None:
    ledger = InMemoryLedger()
    ledger.floor = RetentionFloor(hour_of(NOW - timedelta(days=30)), 400)
    ledger.reconciled = hour_of(NOW - timedelta(days=30))  # the live flush began it 30 days ago; none finished since
    ledger.next_hour = hour_of(NOW)
    clock = Clock()
    trail = PagedTrail(clock)
    deadline = NOW + LAMBDA_TIMEOUT - RESERVE  # as if the flush itself took no time at all
    deps = AuditDeps(ledger.entries_of_hour, trail, ours=ours_by(("p",), lambda ref: True), mark=ledger)

    done = reconcile_due(deps, NOW, lambda: clock.now >= deadline)

    spent = clock.now - NOW
    assert spent <= LAMBDA_TIMEOUT, (
        f"read {trail.events_read} CloudTrail events for {spent.total_seconds():.0f} s "
        f"from {trail.starts[0]:%m-%d %H:%M} "
        f"(Lambda timeout 900 s), reconciling {len(done.hours)} hours"
    )
    # and it got somewhere: the next run starts where this one stopped, not from the same mark
    assert len(done.hours) >= 24, f"reconciled {len(done.hours)} hours"
    assert ledger.reconciled == done.hours[-1].hour + HOUR
