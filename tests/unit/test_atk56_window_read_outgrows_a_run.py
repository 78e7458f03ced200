"""Attack 56 on ac70e4b/5a043fc: the windowed CloudTrail read still wedges a reconciliation that is behind, at a
volume well inside the stack's configured rate (metering_calls_per_second 10, at most 200). Every window is
``TRAIL_WINDOW`` (24) hours of hours plus ``TRAIL_LOOKAHEAD`` (26) hours of calls: 50 hours of LookupEvents read
before the first hour of it is reconciled, and a run that runs out of time mid-read keeps nothing of what it read, so
the next run reads the very same 50 hours again. LookupEvents returns 50 events a page at 2 calls a second: 100
events a second. A stack making 2,000 BatchMeterUsage calls an hour (50,000 records, 10,000 buyers x 5 dimensions:
200 seconds of its own 10 calls a second) needs 1,000 seconds for a window; a run has 840 (900 less the 60 it keeps).
Once the reconciliation is more than ~42 hours behind (two days of CloudTrail access denied, a Marketplace outage, an
emergency dry run), no run ever finishes a window: ReconciliationHoursBehind only grows. One hour's own calls (its
hour and the 24 after it, 26 hours with the spare one) take 520 seconds: each run had time to reconcile an hour, and
reconciles none (invariant: it makes progress every run that has time).

Scaled for the test: 40 calls an hour at half a second each (the same 20 seconds an hour of history)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from functions.flush.audit import AuditDeps, HourReconciled, TrailResult, reconcile_due
from functions.usage.model import HOUR, hour_of
from tests.fakes import InMemoryLedger

CALLS_AN_HOUR = 40
SECONDS_A_CALL = 0.5  # LookupEvents: 100 events a second, scaled as above
RUN_SECONDS = 840  # the flush's 900-second timeout less RECONCILE_RESERVE_MS
NOW = datetime(2026, 12, 6, 21, 12, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now


class SlowTrail:
    """CloudTrail's history of the seller's calls, each read costing its share of LookupEvents' pages."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def metering_results(self, start: datetime, end: datetime | None = None) -> Iterator[TrailResult]:
        until = self.clock.now if end is None else end
        at = start
        while at <= until:
            for n in range(CALLS_AN_HOUR):
                self.clock.now += timedelta(seconds=SECONDS_A_CALL)
                moment = at + timedelta(seconds=n)
                # another product's buyers (not ours: the audit's ``ours`` leaves them out), billed an hour late
                yield TrailResult(f"other-{n}", None, "calls", moment - HOUR, Decimal(1), "Success", None, moment)
            at += HOUR


def test_a_reconciliation_two_days_behind_progresses_when_a_run_could_read_an_hours_calls() -> None:
    ledger = InMemoryLedger()
    ledger.next_hour = hour_of(NOW)
    ledger.reconciled, ledger.reconciled_version = hour_of(NOW - timedelta(hours=60)), 7
    clock = Clock(NOW)
    deps = AuditDeps(ledger.entries_of_hour, SlowTrail(clock), ours=lambda result: False, mark=ledger)
    # one hour's own calls fit in a run: read from its hour until 26 hours after it
    one_hour = list(SlowTrail(Clock(NOW)).metering_results(ledger.reconciled, ledger.reconciled + timedelta(hours=26)))
    assert len(one_hour) * SECONDS_A_CALL < RUN_SECONDS

    done: list[HourReconciled] = []
    behind = []
    for run in range(3):  # three hourly runs, each with its full time for the reconciliation
        start = NOW + run * HOUR
        clock.now = start
        deadline = start + timedelta(seconds=RUN_SECONDS)

        def out_of_time(deadline: datetime = deadline) -> bool:
            return clock.now >= deadline

        result = reconcile_due(deps, start, out_of_time, done.append)
        behind.append((result.behind, result.waiting))
    assert len(done) >= 3, f"no progress in three runs: (hours behind, why) {behind}"
