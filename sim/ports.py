"""Our ports as the simulator runs them: the unit tests' in-memory fakes (``tests/fakes.py``), and a metering ledger
that keeps what the DynamoDB one keeps, each call marked before and after on the scheduler (where it may switch, fail,
or kill) with the store's latency.

The ledger is modelled on ``functions/flush/ledger.py`` step by step, not as one atomic call: storing an hour's
records reads the hour, then writes what it did not find, so two writers racing (the hourly flush and a leaving
buyer's final usage) can both store a record, as they can on DynamoDB. An hour's chunks are dealt over the ledger's
``SHARDS`` partitions as there (the flush's after the calls of buyers outside the world, so that they land in every
partition), and an hour is read a partition at a time, with the store's latency between them, where other actors run
and may write. It also watches the first invariant it can: a record's stored total never
changes, whichever copy of it is read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from functions.flush.calls import batches
from functions.flush.ledger import SHARDS, read_back
from functions.flush.records import (
    MeteringEntry,
    MeteringRecord,
    Placement,
    ReconciledMark,
    RecordResult,
    RetentionFloor,
    UnsentMark,
)
from functions.observability import metrics
from functions.storage.errors import StorageError
from functions.usage.model import HOUR, UsageEvent
from sim.scheduler import Actor, Scheduler
from tests.fakes import InMemoryUsage

# without an UNSENT mark, the ledger looks over the hours a record may still be sent in (as functions/flush/ledger.py)
_NO_MARK_LOOKBACK = timedelta(hours=25)
QUERY_SECONDS = 0.005  # one more partition's query of an hour
T = TypeVar("T")


def _calls_before(hour: datetime) -> int:
    """The calls of the product's buyers outside the world that the flush makes of an hour before its buyers': a world's
    hour is one call (at most 9 records), so without them every chunk would be in ``REC#<hour>`` and the other
    partitions never read. Stable per hour, no draw from the random source: a world replays as before."""
    return hour.hour % SHARDS


class Instrumented:
    """Any of our in-memory fakes, each method call a port call on the scheduler."""

    def __init__(self, target: Any, scheduler: Scheduler, name: str) -> None:
        self._target = target
        self._scheduler = scheduler
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._target, attribute)
        if not callable(value):
            return value
        port = f"{self._name}.{attribute}"

        def call(*args: Any, **kwargs: Any) -> Any:
            self._scheduler.port(port, "before")
            result = value(*args, **kwargs)
            self._scheduler.port(port, "after")
            return result

        return call


class SimUsage:
    """The usage table (``UsageStore`` and ``UsageReader``): the unit tests' fake, which keeps the DynamoDB store's
    rules, each event's write a port call of its own as there (16 in flight: one failing leaves the others done)."""

    def __init__(self, scheduler: Scheduler, inner: InMemoryUsage | None = None) -> None:
        self.inner = inner or InMemoryUsage(clock=scheduler.clock)
        self._scheduler = scheduler

    def _each(self, port: str, write: Callable[[UsageEvent], T], events: Sequence[UsageEvent]) -> list[T]:
        results: list[T] = []
        failure: StorageError | None = None
        for event in events:
            try:
                self._scheduler.port(port, "before")
                results.append(write(event))
                self._scheduler.port(port, "after")
            except StorageError as error:
                failure = failure or error
        if failure is not None:
            raise failure
        return results

    def claim(self, events: Sequence[UsageEvent], request: str) -> list[UsageEvent | None]:
        return self._each("usage.claim", lambda e: self.inner.claim([e], request)[0], events)

    def release(self, events: Sequence[UsageEvent], request: str) -> None:
        self._each("usage.release", lambda e: self.inner.release([e], request), events)

    def add(self, events: Sequence[UsageEvent]) -> list[bool]:
        def put(event: UsageEvent) -> bool:
            # the write deadline is checked as the write starts; the write may then take its time to land
            if self.inner.late(event):
                return self.inner.add([event])[0]  # refused as it is by the fake
            self._scheduler.port("usage.put", "landing")
            return self.inner.add([event])[0]

        return self._each("usage.put", put, events)

    def kept(self, identities: Sequence[tuple[str, str]]) -> dict[tuple[str, str], UsageEvent]:
        self._scheduler.port("usage.batch_get", "before")
        return self.inner.kept(identities)

    def is_stored(self, event: UsageEvent) -> bool:
        self._scheduler.port("usage.get", "before")
        return self.inner.is_stored(event)

    def reclaim(self, event: UsageEvent, kept: UsageEvent) -> bool:
        self._scheduler.port("usage.reclaim", "before")
        done = self.inner.reclaim(event, kept)
        self._scheduler.port("usage.reclaim", "after")
        return done

    def events_of_hour(self, hour: datetime) -> Iterator[UsageEvent]:
        self._scheduler.port("usage.query", "before")
        return iter(list(self.inner.events_of_hour(hour)))

    def late_events_billed_in(self, hour: datetime) -> Iterator[UsageEvent]:
        self._scheduler.port("usage.query", "before")
        return iter(list(self.inner.late_events_billed_in(hour)))


@dataclass(eq=False)
class _Chunk:
    sk: int
    shard: int
    records: list[MeteringRecord]
    outcomes: dict[int, RecordResult] = field(default_factory=dict)

    def entry(self, index: int) -> MeteringEntry:
        record, outcome = self.records[index], self.outcomes.get(index)
        if outcome is None:
            return MeteringEntry(record, "pending")
        return MeteringEntry(record, outcome.status, outcome.metering_record_id, outcome.reason, outcome.at)


@dataclass(frozen=True)
class _Stored:
    entry: MeteringEntry
    chunk: _Chunk
    index: int


class SimLedger:
    """``functions.flush.records.MeteringLedger`` (and ``entries_of_hour``, the audit's read) as the DynamoDB ledger
    keeps it: chunks of records with their outcomes per hour, the seal cursor, the versioned unsent mark, carries, the
    lease. Mutants (see ``sim/mutants.py``): ``rewrites`` stores a record again over what was stored; ``strands``
    writes a leaving buyer's records without moving the unsent mark back; ``partitions_read`` is how many of an hour's
    partitions a query of it reads (1: ``REC#<hour>`` alone, as the ledger before the partitions did)."""

    rewrites = False
    strands = False
    partitions_read = SHARDS

    def __init__(self, scheduler: Scheduler, violation: Callable[[str, str], None]) -> None:
        self._scheduler = scheduler
        self._violation = violation
        self.hours: dict[datetime, list[_Chunk]] = defaultdict(list)
        self.cursor: datetime | None = None
        # what the DynamoDB ledger's seals record of the retention (a world's never changes: the world sets it)
        self.floor = RetentionFloor()
        self.mark = UnsentMark(None, 0)
        self.carries: dict[datetime, dict[str, MeteringRecord]] = defaultdict(dict)
        self.consumed: set[tuple[datetime, str]] = set()
        self.placed: dict[tuple[datetime, str], Placement] = {}
        self.sealed_before: dict[tuple[datetime, str], datetime | None] = {}  # the seal cursor as each was placed
        self.lease: tuple[str, datetime] | None = None
        self.reconciled: datetime | None = None
        self.reconciled_version = 0
        self.dry_run_hours: set[datetime] = set()  # sealed in dry run (kept with the cursor's move)
        self.sealed_by: dict[datetime, Actor | None] = {}  # the invocation whose seal moved the cursor past each hour
        self.sealed_at: dict[datetime, datetime] = {}  # and when
        self.placed_by: dict[tuple[datetime, str], Actor | None] = {}  # the invocation whose placement was kept
        self.modes_since: datetime | None = None  # the first hour it sealed (each hour's mode kept from there)
        self.reopened: set[datetime] = set()  # hours reconciled before a leaving buyer's carry was placed in them
        self.on_reconciled: Callable[[datetime], None] = lambda hour: None
        self.totals: dict[tuple[datetime, str], Decimal] = {}  # the first total stored per record
        self.answered: set[tuple[datetime, str]] = set()  # records with an outcome written
        self.answered_by: dict[tuple[datetime, str], Actor | None] = {}  # the invocation that wrote each one's last
        # when each record was first stored, and first parked (a failed outcome): what explains a record out of bounds
        self.stored_at: dict[tuple[datetime, str], datetime] = {}
        self.parked_at: dict[tuple[datetime, str], datetime] = {}
        self._chunks = 0
        # where each invocation's handed-out records are stored (the DynamoDB ledger's per-process cache)
        self._where: dict[tuple[Actor | None, datetime, str], tuple[_Chunk, int]] = {}

    def _port(self, name: str, phase: str) -> None:
        self._scheduler.port(f"ledger.{name}", phase)

    def _invocation(self) -> Actor | None:
        actor = self._scheduler.current()
        return actor.invocation if actor else None

    # reads
    def _entries(self, hour: datetime, *, queried: bool = True) -> dict[str, _Stored]:
        """The hour's records by key; of two copies, the one with an outcome (as the DynamoDB ledger reads them).
        ``queried``: as the DynamoDB ledger reads it, a partition at a time, the store's latency between two (other
        actors run there and may write); else as it stands (a write's own check)."""
        entries: dict[str, _Stored] = {}
        for shard in range(self.partitions_read if queried else SHARDS):
            if queried and shard:
                self._scheduler.sleep(QUERY_SECONDS)
            for chunk in [c for c in self.hours.get(hour, []) if c.shard == shard]:
                for index, record in enumerate(chunk.records):
                    stored = _Stored(chunk.entry(index), chunk, index)
                    if record.key not in entries or entries[record.key].entry.status == "pending":
                        entries[record.key] = stored
        return entries

    def _handed_out(self, stored: _Stored) -> MeteringRecord:
        record = stored.entry.record
        self._where[(self._invocation(), record.hour, record.key)] = (stored.chunk, stored.index)
        return record

    def next_hour_to_seal(self) -> datetime | None:
        self._port("get_cursor", "before")
        return self.cursor

    def entries_of_hour(self, hour: datetime) -> list[MeteringEntry]:
        self._port("query", "before")
        return [stored.entry for stored in self._entries(hour).values()]

    def unsent_mark(self) -> UnsentMark:
        self._port("get_mark", "before")
        return self.mark

    def pending(self, mark: UnsentMark) -> Iterator[MeteringRecord]:
        self._port("query", "before")
        until = self.cursor
        if until is None:
            return iter(())
        hour = mark.hour or until - _NO_MARK_LOOKBACK
        found = []
        while hour < until:
            for stored in sorted(self._entries(hour).values(), key=lambda s: s.entry.record.key):
                if stored.entry.status == "pending":
                    found.append(self._handed_out(stored))
            hour += HOUR
        return iter(found)

    def carried_into(self, hour: datetime) -> list[MeteringRecord]:
        self._port("query", "before")
        return [c for c in self.carries.get(hour, {}).values() if (hour, c.key) not in self.placed]

    def placements_into(self, hour: datetime) -> list[tuple[MeteringRecord, Placement]]:
        self._port("query", "before")
        return [
            (c, self.placed[(hour, c.key)]) for c in self.carries.get(hour, {}).values() if (hour, c.key) in self.placed
        ]

    def consume_carry(self, record: MeteringRecord) -> bool:
        self._port("update_carry", "before")
        if (record.hour, record.key) in self.placed:
            return False
        self.consumed.add((record.hour, record.key))
        self._port("update_carry", "after")
        return True

    def place_carry(self, record: MeteringRecord, placement: Placement) -> Placement | None:
        self._port("update_carry", "before")
        key = (record.hour, record.key)
        if key in self.consumed:
            return None
        self.carries[record.hour].setdefault(record.key, record)
        kept = self.placed.setdefault(key, list(placement))
        self.sealed_before.setdefault(key, self.cursor)  # the invariants: only sealed hours could take it
        self.placed_by.setdefault(key, self._invocation())  # and only in the placer's mode
        self._port("update_carry", "after")
        return kept

    # writes
    def write_pending(self, records: Sequence[MeteringRecord]) -> list[MeteringRecord]:
        if not records:
            return []
        # as the DynamoDB ledger: the marks back to the earliest hour, each a new version, before and after
        earliest = min(r.hour for r in records)
        self._move_marks_back(earliest)
        to_send = self._write_pending(records, ())
        self._move_marks_back(earliest)
        return to_send

    def _move_marks_back(self, earliest: datetime) -> None:
        if self.strands:
            return
        self._port("update_mark", "before")
        hour = self.mark.hour if self.mark.hour is None or self.mark.hour <= earliest else earliest
        self.mark = UnsentMark(hour, self.mark.version + 1)
        self._port("update_mark", "after")
        self._port("update_reconciled", "before")
        if self.reconciled is not None and self.reconciled >= earliest:
            hour = earliest
            while hour < self.reconciled:
                self.reopened.add(hour)
                hour += HOUR
            self.reconciled, self.reconciled_version = earliest, self.reconciled_version + 1
        self._port("update_reconciled", "after")

    def write_hour(self, hour: datetime, records: Sequence[MeteringRecord]) -> list[MeteringRecord]:
        return self._write_pending(records, (hour,))

    def _write_pending(self, records: Sequence[MeteringRecord], whole: Sequence[datetime]) -> list[MeteringRecord]:
        self._port("query", "before")
        to_send: list[MeteringRecord] = []
        new: list[MeteringRecord] = []
        by_hour: dict[datetime, dict[str, MeteringRecord]] = {hour: {} for hour in whole}
        for record in records:
            by_hour.setdefault(record.hour, {}).setdefault(record.key, record)
        for hour, hour_records in by_hour.items():
            stored = self._entries(hour)
            if hour in whole:
                to_send.extend(
                    self._handed_out(found)
                    for key, found in sorted(stored.items())
                    if key not in hour_records and found.entry.status == "pending"
                )
            for key, record in hour_records.items():
                found = stored.get(key)
                if found is None or self.rewrites:
                    new.append(record)
                    continue
                if found.entry.record.quantity != record.quantity:
                    metrics.add_metric(name="SealedTotalMismatch", unit="Count", value=1)
                if found.entry.status == "pending":
                    to_send.append(self._handed_out(found))
        self._port("query", "after")
        if new:
            self._port("batch_write", "before")
            for hour in sorted({r.hour for r in new}):
                of_hour = sorted((r for r in new if r.hour == hour), key=lambda r: (r.product_code, r.key))
                calls = [
                    call
                    for product in sorted({r.product_code for r in of_hour})
                    for call in batches([r for r in of_hour if r.product_code == product])
                ]
                # dealt over the partitions in the order they are sent, after the calls of the product's other buyers
                # (a world holds a few of them): the flush's calls of an hour begin in any partition; a leaving buyer's
                # own (write_pending: theirs alone) in REC#<hour>, as on DynamoDB
                first = _calls_before(hour) if hour in whole else 0
                for number, call in enumerate(calls, start=first):
                    self._store(hour, call, number % SHARDS)
                    to_send.extend(call)
            self._port("batch_write", "after")
        return to_send

    def _store(self, hour: datetime, records: list[MeteringRecord], shard: int) -> None:
        self._chunks += 1
        chunk = _Chunk(self._chunks, shard, [read_back(r) for r in records])  # as the table gives them back
        if self.rewrites:  # the mutant: what was stored for these records is replaced, outcomes and all
            keys = {r.key for r in records}
            for old in self.hours[hour]:
                old.records = [r for r in old.records if r.key not in keys]
                old.outcomes = {}
        self.hours[hour].append(chunk)
        entries = self._entries(hour, queried=False)
        for index, (record, stored) in enumerate(zip(records, chunk.records, strict=True)):
            first = self.totals.setdefault((hour, stored.key), stored.quantity)
            self.stored_at.setdefault((hour, stored.key), self._scheduler.now)
            if first != stored.quantity:
                self._violation(
                    "a sealed total never changes",
                    f"{stored.key} of {hour:%Y-%m-%dT%H}: stored {first}, now also {stored.quantity}",
                )
            if (hour, stored.key) in self.answered and entries[stored.key].entry.status == "pending":
                self._violation(
                    "a sealed total never changes",
                    f"{stored.key} of {hour:%Y-%m-%dT%H}: stored again, its outcome (Marketplace's answer) lost",
                )
            self._where[(self._invocation(), hour, record.key)] = (chunk, index)  # as the writer's process knows it

    def retention_floor(self) -> RetentionFloor:
        self._port("get_cursor", "before")
        return self.floor

    def sealed_in_dry_run(self, hour: datetime) -> bool:
        self._port("get_dry_run", "before")
        return hour in self.dry_run_hours

    def modes_kept_since(self) -> datetime | None:
        self._port("get_cursor", "before")
        return self.modes_since

    def seal(self, hour: datetime, *, dry_run: bool = False) -> bool:
        self._port("put_cursor", "before")
        if self.cursor is not None and self.cursor != hour:
            return False
        self.cursor = hour + HOUR
        self.sealed_by[hour] = self._invocation()
        self.sealed_at[hour] = self._scheduler.now
        if dry_run:
            self.dry_run_hours.add(hour)
        self.modes_since = self.modes_since or hour
        self._port("put_cursor", "after")
        return True

    def move_unsent_mark(self, mark: UnsentMark, hour: datetime) -> bool:
        self._port("put_mark", "before")
        if self.mark.version != mark.version:
            return False
        self.mark = UnsentMark(hour, mark.version + 1)
        self._port("put_mark", "after")
        return True

    def write_results(self, results: Sequence[RecordResult]) -> None:
        by_chunk: dict[int, tuple[_Chunk, list[tuple[int, RecordResult]]]] = {}
        for result in results:
            record = result.record
            where = self._where.get((self._invocation(), record.hour, record.key))
            if where is None:
                stored = self._entries(record.hour).get(record.key)
                if stored is None:
                    raise StorageError(f"record {record.key} is not stored", code="NotStored", retryable=False)
                where = (stored.chunk, stored.index)
            by_chunk.setdefault(where[0].sk, (where[0], []))[1].append((where[1], result))
        for chunk, outcomes in by_chunk.values():
            self._port("update_outcomes", "before")
            for index, result in outcomes:
                chunk.outcomes[index] = result
                self.answered.add((result.record.hour, result.record.key))
                self.answered_by[(result.record.hour, result.record.key)] = self._invocation()
                if result.status == "failed":
                    self.parked_at.setdefault((result.record.hour, result.record.key), self._scheduler.now)
            self._port("update_outcomes", "after")

    def write_carry(self, records: Sequence[MeteringRecord]) -> None:
        for record in records:
            self._port("put_carry", "before")
            self.carries[record.hour].setdefault(record.key, record)
            self._port("put_carry", "after")

    def reconciled_until(self) -> ReconciledMark:
        self._port("get_reconciled", "before")
        return ReconciledMark(self.reconciled, self.reconciled_version)

    def move_reconciled(self, seen: ReconciledMark, to: datetime) -> bool:
        self._port("put_reconciled", "before")
        if ReconciledMark(self.reconciled, self.reconciled_version) != seen:
            return False
        self.reconciled, self.reconciled_version = to, seen.version + 1
        if seen.hour is not None:  # a first run writing where it starts has reconciled nothing yet
            self.on_reconciled(to - HOUR)
        self._port("put_reconciled", "after")
        return True

    def acquire_lease(self, owner: str, until: datetime, now: datetime) -> bool:
        self._port("put_lease", "before")
        if self.lease is not None and self.lease[1] >= now:
            return False
        self.lease = (owner, until)
        self._port("put_lease", "after")
        return True

    def release_lease(self, owner: str) -> None:
        self._port("delete_lease", "before")
        if self.lease is not None and self.lease[0] == owner:
            self.lease = None
        self._port("delete_lease", "after")

    # for the invariants: the ledger as it stands (not port calls)
    def peek_carried_into(self, hour: datetime) -> list[MeteringRecord]:
        return [c for c in self.carries.get(hour, {}).values() if (hour, c.key) not in self.placed]

    def peek_placements_into(self, hour: datetime) -> list[tuple[MeteringRecord, Placement]]:
        return [
            (c, self.placed[(hour, c.key)]) for c in self.carries.get(hour, {}).values() if (hour, c.key) in self.placed
        ]

    def peek(self, hour: datetime) -> list[MeteringEntry]:
        """The hour's entries as they stand (not a port call)."""
        return [stored.entry for stored in self._entries(hour, queried=False).values()]

    def stored(self) -> Iterator[MeteringEntry]:
        for hour in sorted(self.hours):
            yield from (stored.entry for stored in self._entries(hour, queried=False).values())
