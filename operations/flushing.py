"""Run a flush now and watch it: in this process against the local stack, or by invoking the deployed function."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from functions.flush.records import (
    MeteringEntry,
    MeteringLedger,
    MeteringRecord,
    Placement,
    ReconciledMark,
    RecordResult,
    UnsentMark,
)
from functions.flush.service import FlushDeps, FlushReport, flush

# a Lambda invocation's own limit: a run in this process stops sending this long after it started
RUN_BUDGET_MS = 900_000
MAX_RUNS = 100  # a backlog is worked through in runs of RUN_BUDGET_MS; this many is days of records


@dataclass(frozen=True)
class FlushProgress:
    hours_sealed: int = 0
    records_known: int = 0  # unsent when the run started, plus those sealed since
    records_done: int = 0  # with an outcome (sent, or parked)
    pending: int | None = None  # a deployed flush is watched through its ledger's unsent records only


ProgressCallback = Callable[[FlushProgress], None]


class _WatchedLedger:
    """The flush's ledger, reporting what the flush does with it (the flush's own interface, delegated)."""

    def __init__(self, ledger: MeteringLedger, on_progress: ProgressCallback) -> None:
        self._ledger = ledger
        self._on_progress = on_progress
        self._lock = threading.Lock()
        self.progress = FlushProgress()

    def _add(self, **counts: int) -> None:
        if not any(counts.values()):
            return
        with self._lock:
            self.progress = replace(
                self.progress, **{name: getattr(self.progress, name) + n for name, n in counts.items()}
            )
            progress = self.progress
        self._on_progress(progress)

    def next_hour_to_seal(self) -> datetime | None:
        return self._ledger.next_hour_to_seal()

    def sealed_in_dry_run(self, hour: datetime) -> bool:
        return self._ledger.sealed_in_dry_run(hour)

    def write_pending(self, records: Sequence[MeteringRecord]) -> list[MeteringRecord]:
        unsent = self._ledger.write_pending(records)
        self._add(records_known=len(unsent))
        return unsent

    def write_hour(self, hour: datetime, records: Sequence[MeteringRecord]) -> list[MeteringRecord]:
        unsent = self._ledger.write_hour(hour, records)
        self._add(records_known=len(unsent))
        return unsent

    def carried_into(self, hour: datetime) -> list[MeteringRecord]:
        return self._ledger.carried_into(hour)

    def write_carry(self, records: Sequence[MeteringRecord]) -> None:
        self._ledger.write_carry(records)

    def consume_carry(self, record: MeteringRecord) -> bool:
        return self._ledger.consume_carry(record)

    def place_carry(self, record: MeteringRecord, placement: Placement) -> Placement | None:
        return self._ledger.place_carry(record, placement)

    def placements_into(self, hour: datetime) -> list[tuple[MeteringRecord, Placement]]:
        return self._ledger.placements_into(hour)

    def entries_of_hour(self, hour: datetime) -> list[MeteringEntry]:
        return self._ledger.entries_of_hour(hour)

    def reconciled_until(self) -> ReconciledMark:
        return self._ledger.reconciled_until()

    def move_reconciled(self, seen: ReconciledMark, to: datetime) -> bool:
        return self._ledger.move_reconciled(seen, to)

    def seal(self, hour: datetime, *, dry_run: bool = False) -> bool:
        sealed = self._ledger.seal(hour, dry_run=dry_run)
        if sealed:
            self._add(hours_sealed=1)
        return sealed

    def unsent_mark(self) -> UnsentMark:
        return self._ledger.unsent_mark()

    def pending(self, mark: UnsentMark) -> Iterator[MeteringRecord]:
        unsent = list(self._ledger.pending(mark))
        self._add(records_known=len(unsent))
        return iter(unsent)

    def move_unsent_mark(self, mark: UnsentMark, hour: datetime) -> bool:
        return self._ledger.move_unsent_mark(mark, hour)

    def write_results(self, results: Sequence[RecordResult]) -> None:
        self._ledger.write_results(results)
        self._add(records_done=len(results))

    def acquire_lease(self, owner: str, until: datetime, now: datetime) -> bool:
        return self._ledger.acquire_lease(owner, until, now)

    def release_lease(self, owner: str) -> None:
        self._ledger.release_lease(owner)


@dataclass
class FlushSummary:
    runs: int = 0
    skipped: bool = False  # another flush holds the lease: it is doing this work
    hours_sealed: int = 0
    succeeded: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    left_pending: int = 0

    def add(self, report: FlushReport) -> None:
        self.runs += 1
        self.skipped = report.skipped
        self.hours_sealed += report.hours_sealed
        self.succeeded += report.succeeded
        self.failed.update(report.failed)
        self.left_pending = report.left_pending

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "skipped": self.skipped,
            "hours_sealed": self.hours_sealed,
            "succeeded": self.succeeded,
            "failed": dict(sorted(self.failed.items())),
            "left_pending": self.left_pending,
        }


def flush_here(
    deps: FlushDeps, on_progress: ProgressCallback, *, monotonic: Callable[[], float] = time.monotonic
) -> dict[str, Any]:
    """Flush in this process as the scheduled function does, continuing a backlog run after run until done."""
    ledger = _WatchedLedger(deps.ledger, on_progress)
    watched = replace(deps, ledger=ledger)
    summary = FlushSummary()
    for _ in range(MAX_RUNS):
        deadline = monotonic() + RUN_BUDGET_MS / 1000

        def remaining_ms(deadline: float = deadline) -> int:
            return int((deadline - monotonic()) * 1000)

        report = flush(watched, remaining_ms=remaining_ms)
        summary.add(report)
        # records Marketplace kept refusing through every retry wait for the next scheduled run, as in AWS
        if report.skipped or not report.more_work:
            break
    return summary.to_dict()


def flush_deployed(
    invoke: Callable[[], dict[str, Any]],
    pending_count: Callable[[], int],
    on_progress: ProgressCallback,
    *,
    poll_seconds: float = 2.0,
) -> dict[str, Any]:
    """Invoke the deployed flush and wait for its answer, reporting how many records are unsent meanwhile."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        answer = pool.submit(invoke)
        while True:
            try:
                return answer.result(timeout=poll_seconds)
            except FutureTimeout:
                on_progress(FlushProgress(pending=pending_count()))
