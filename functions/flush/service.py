"""The flush: seal every closed hour (oldest first), then send what is unsent, within the invocation's time."""

from __future__ import annotations

import itertools
import math
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from functions.clock import Clock
from functions.customers.model import CustomerRepository
from functions.flush.aggregate import aggregate, spill, zero_records
from functions.flush.audit import CarryReader, begin_reconciliation
from functions.flush.calls import CallPacker
from functions.flush.records import (
    PARKED_CARRY,
    MeteringEntry,
    MeteringGateway,
    MeteringLedger,
    MeteringRecord,
    RecordResult,
    UnsentMark,
    placed_records,
)
from functions.flush.sender import Backoff, RateLimiter, Sender, SendTally, TokenBucket
from functions.settings import Settings
from functions.usage.model import DECIMAL_QUANTITY, HOUR, MAX_INTEGER_QUANTITY, UsageEvent, hour_of

METERING_WINDOW = timedelta(hours=24)
# the reason a record out of Marketplace's window is parked with: Marketplace's own error code, whether it refused the
# call or the flush did not send it
OUT_OF_WINDOW = "TimestampOutOfBoundsException"
MONTH_END_CUTOFF = timedelta(hours=6)  # last month's records are accepted until 06:00 UTC on the 1st
# On the 1st, until the cutoff, the flush also runs this often (the stack's month-end schedule): last month's records a
# Marketplace outage kept from the hourly run before the cutoff still go out
MONTH_END_RUNS_EVERY = timedelta(minutes=10)
# A call holds a worker for Marketplace's answer (50-150 ms typically) and the write of its outcomes, and a worker
# waits for its slot of the schedule: with a worker per this many seconds of the rate, slow answers (or, on a loaded
# machine, the wait for the interpreter) still leave one free at every slot. A slot that comes while every worker is
# busy is left unused (sender.SharedTokenBucket): at 0.4 s, a loaded two-core run of bench/sharded_hour.py left 132-279
# of 640 slots unused (rounds 0.75-0.91 of the rate); at 0.8 s, none (0.99-1.00).
CALL_SECONDS = 0.8
MIN_WORKERS = 4
# Each worker sleeps until the slot it took, so the workers together hold up to workers / rate seconds of the
# schedule: kept within a third of the reserve a run stops with (``flush``'s reserve_ms, 60 s), so that a run at a low
# rate makes the calls it took slots for before it stops (4 workers at 0.05 calls/s held 80 s). A wait that reaches
# the reserve all the same (a slot other senders pushed minutes away) is given up (``sender.Sender``).
HELD_SECONDS = 20


def workers_for(calls_per_second: Decimal) -> int:
    wanted = max(MIN_WORKERS, math.ceil(calls_per_second * Decimal(str(CALL_SECONDS))))
    return max(1, min(wanted, math.floor(calls_per_second * HELD_SECONDS)))


class UsageReader(Protocol):
    def events_of_hour(self, hour: datetime) -> Iterator[UsageEvent]: ...

    def late_events_billed_in(self, hour: datetime) -> Iterator[UsageEvent]: ...


@dataclass(frozen=True)
class FlushDeps:
    """Everything a flush run uses: settings, stores, Marketplace, the clock and how it paces and retries."""

    settings: Settings
    usage: UsageReader
    ledger: MeteringLedger
    customers: CustomerRepository
    gateway: MeteringGateway
    clock: Clock
    backoff: Backoff = field(default_factory=Backoff)
    workers: int | None = None  # None: as many as the rate limit needs (workers_for)
    # every sender of these deps (the flush, a leaving buyer's final usage) shares it; None: one per run
    limiter: RateLimiter | None = None
    # runs the calls in flight (``executor(max_workers=n)``); the simulator (sim/) runs them on its own scheduler
    executor: Callable[..., Executor] = ThreadPoolExecutor


def rate_limiter(deps: FlushDeps) -> RateLimiter:
    return deps.limiter or TokenBucket(float(deps.settings.metering_calls_per_second))


@dataclass
class FlushReport:
    """What one flush run did: hours sealed, records sent and their outcomes, and what it left."""

    skipped: bool = False  # another flush holds the lease
    hours_sealed: int = 0
    records_sent: int = 0  # records in BatchMeterUsage calls, retries included
    records_retried: int = 0
    succeeded: int = 0
    dry_run: int = 0  # answered by the dry-run gateway (metering_mode dry-run): stored, never billed
    failed: Counter[str] = field(default_factory=Counter)  # by reason, terminal statuses included
    not_subscribed: int = 0
    duplicates: int = 0
    left_pending: int = 0
    unprocessed_after_retries: int = 0  # of left_pending: Marketplace kept refusing them through every retry
    oldest_unsent_hour_age_seconds: float = 0.0
    more_work: bool = False  # stopped before its deadline with work left
    continued: bool = False  # a continuation run was requested


def closed(hour: datetime, now: datetime, grace: timedelta) -> bool:
    return now >= hour + HOUR + grace


def window_missed(hour: datetime, now: datetime) -> bool:
    """Marketplace refuses a record stamped ``hour`` (its start) now: past 24 hours or past the month-end cutoff."""
    if now - hour >= METERING_WINDOW:
        return True
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return hour < month_start and now >= month_start + MONTH_END_CUTOFF


def unsendable(record: MeteringRecord) -> str | None:
    if record.integer and record.quantity > MAX_INTEGER_QUANTITY:
        return "QuantityTooLarge"
    if not record.integer and not DECIMAL_QUANTITY.match(format(record.quantity.normalize(), "f")):
        return "QuantityTooLarge" if record.quantity > Decimal(0) else "QuantityInvalid"
    return None


def flush(deps: FlushDeps, *, remaining_ms: Callable[[], int], reserve_ms: int = 60_000) -> FlushReport:
    """Seal closed hours and send unsent records until done or ``reserve_ms`` before the deadline.

    Every step is safe to repeat: a closed hour's total is deterministic, identical records are idempotent at
    Marketplace, and the cursor only moves forward. A run killed anywhere is finished by the next one.
    """
    now = deps.clock.now()
    owner = uuid.uuid4().hex
    if not deps.ledger.acquire_lease(owner, now + timedelta(milliseconds=remaining_ms()), now):
        return FlushReport(skipped=True)
    try:
        return _flush(deps, now, lambda: remaining_ms() < reserve_ms)
    finally:
        deps.ledger.release_lease(owner)


def flush_and_continue(
    deps: FlushDeps, *, remaining_ms: Callable[[], int], continue_later: Callable[[], None]
) -> FlushReport:
    """One scheduled or on-demand run: flush, and if it stopped before its deadline with work left, have the
    rest continued at once (``continue_later``) instead of an hour later."""
    report = flush(deps, remaining_ms=remaining_ms)
    if report.more_work:
        continue_later()
        report.continued = True
    return report


def _flush(deps: FlushDeps, now: datetime, out_of_time: Callable[[], bool]) -> FlushReport:
    """Send while sealing: records left unsent by earlier runs go first, then each hour as soon as it is sealed,
    so reading and storing an hour's totals overlaps the calls instead of delaying them."""
    report = FlushReport()
    tally = SendTally()
    parked: list[RecordResult] = []
    sender = Sender(deps.gateway, rate_limiter(deps), deps.backoff, out_of_time)

    def send(batch: list[MeteringRecord]) -> None:
        results = answered(sender.deliver(batch, tally), deps.clock)
        if results:
            deps.ledger.write_results(results)
        with tally.lock:
            tally.results.extend(results)

    rate = deps.settings.metering_calls_per_second
    with deps.executor(max_workers=deps.workers or workers_for(rate)) as pool:
        batcher = _Batcher(lambda batch: pool.submit(send, batch))
        queued: set[tuple[datetime, str]] = set()

        def queue(records: list[MeteringRecord]) -> None:
            # oldest hour first: nearest the 24-hour limit and the month-end cutoff
            fresh = sorted(
                (r for r in records if (r.hour, r.key) not in queued), key=lambda r: (r.hour, r.product_code, r.key)
            )
            queued.update((r.hour, r.key) for r in fresh)
            batcher.add(park_unsendable(deps, fresh, now, parked))

        # unsent records are of sealed hours, all older than any hour sealed now (a run killed between storing an
        # hour's records and sealing it left them pending too: sealing them again yields the same, queued once)
        mark = deps.ledger.unsent_mark()
        begin_live_reconciliation(deps, mark, now)
        unsent = park_unsendable(deps, list(deps.ledger.pending(mark)), now, parked)
        queue(park_dry_run_hours(deps, unsent, parked))
        report.hours_sealed, sealing_left, first_unsealed = _seal_closed_hours(
            deps, now, out_of_time, queue, lambda placed: park_dry_run_hours(deps, placed, parked)
        )
        for future in batcher.finish():
            future.result()
    _tally(report, tally, parked, now, sealing_left)
    # every record of an hour before this has its outcome now: later runs need not look there
    oldest_unsent = min((r.hour for r in tally.left_pending), default=first_unsealed)
    if mark.hour is None or oldest_unsent > mark.hour:
        deps.ledger.move_unsent_mark(mark, oldest_unsent)
    return report


def begin_live_reconciliation(deps: FlushDeps, mark: UnsentMark | None, now: datetime, *sending: datetime) -> None:
    """Before live metering sends (the flush, or a leaving buyer's final usage, whichever comes first): the
    reconciliation begins where the flush may send from (records left unsent from ``mark`` on, read if not given,
    then the hours it seals), or at the hours ``sending`` if older (``begin_reconciliation``). A dry run begins
    nothing."""
    if not deps.settings.bills:
        return
    if mark is None:
        mark = deps.ledger.unsent_mark()
    first_to_seal = deps.ledger.next_hour_to_seal() or hour_of(now - METERING_WINDOW)
    begin_reconciliation(deps.ledger, min(mark.hour or first_to_seal, first_to_seal, *sending), now)


def answered(results: list[RecordResult], clock: Clock) -> list[RecordResult]:
    """Marketplace's answers, with when they came (the reconciliation waits for CloudTrail to show them)."""
    now = clock.now()
    return [replace(result, at=now) for result in results]


def cannot_send(record: MeteringRecord, now: datetime) -> str | None:
    """Why the record is not sent: a leaving buyer's carry parked (no hour of theirs could take it: stored pending
    until marked so, which a writer dying in between leaves undone, and never redriven), or Marketplace would refuse
    it now (out of its window, a quantity it takes not)."""
    if record.key.endswith(PARKED_CARRY):
        return "CarriedPastEnd"
    if window_missed(record.hour, now):
        return OUT_OF_WINDOW
    return unsendable(record)


def park_unsendable(
    deps: FlushDeps, records: list[MeteringRecord], now: datetime, parked: list[RecordResult]
) -> list[MeteringRecord]:
    """The records to send; those that cannot be sent (``cannot_send``) are parked, written and added to ``parked``."""
    hopeless = [RecordResult(r, "failed", None, reason) for r in records if (reason := cannot_send(r, now))]
    if hopeless:
        deps.ledger.write_results(hopeless)
        parked.extend(hopeless)
    hopeless_keys = {(p.record.hour, p.record.key) for p in hopeless}
    return [r for r in records if (r.hour, r.key) not in hopeless_keys]


def park_dry_run_hours(
    deps: FlushDeps, records: list[MeteringRecord], parked: list[RecordResult]
) -> list[MeteringRecord]:
    """The records to send; live, those of hours sealed in dry run (``dry_run_records``) are answered ``dry_run``
    instead, as that run would have answered them, written and added to ``parked``. A dry-run flush that dies between
    its seal and its answers leaves them pending, and nothing of such an hour is this stack's to bill
    (``MeteringLedger.seal``): sent live once live metering resumes, a rehearsal's usage, or usage another integration
    billed, would be billed by this stack. A dry run answers every record so already. Where there are records, a read
    of the cursor and one per hour of theirs already sealed; where one is in an hour sealed in dry run (rare), a read
    of the placements into each hour that may have placed it."""
    if not records or not deps.settings.bills or (sealed_before := deps.ledger.next_hour_to_seal()) is None:
        return records
    dry = dry_run_records(deps.ledger, records, sealed_before, deps.ledger.entries_of_hour)
    answers = [RecordResult(r, "dry_run") for r in dry]
    if answers:
        deps.ledger.write_results(answers)
        parked.extend(answers)
    answered = {(a.record.hour, a.record.key) for a in answers}
    return [r for r in records if (r.hour, r.key) not in answered]


class HoursModes(CarryReader, Protocol):
    """How each hour was sealed, and where leaving buyers' carries were placed (the metering ledger keeps both)."""

    def sealed_in_dry_run(self, hour: datetime) -> bool: ...


def dry_run_records(
    ledger: HoursModes,
    records: list[MeteringRecord],
    sealed_before: datetime,
    entries_of_hour: Callable[[datetime], Iterable[MeteringEntry]],
) -> list[MeteringRecord]:
    """Of ``records``, those live metering answers ``dry_run`` instead of sending them: those of hours sealed (before
    ``sealed_before``) in dry run, nothing of which is this stack's to bill; but a leaving buyer's carry placed there
    is their final hour's usage (the hour before the carry's), not the hour's, and goes as that hour's own record
    does: answered ``dry_run`` if that record was (a final-usage step in dry run, killed or out of time before the
    carry's answer: attack 67); else, that record unanswered, as that hour is sealed (attacks 65, 66)."""
    modes: dict[datetime, bool] = {}
    answers_of: dict[datetime, dict[str, str]] = {}  # each final hour's answered records, read once

    def dry(hour: datetime) -> bool:  # an hour not sealed yet is sealed in the mode in force: live
        if hour not in modes:
            modes[hour] = hour < sealed_before and ledger.sealed_in_dry_run(hour)
        return modes[hour]

    def goes_dry(record: MeteringRecord) -> bool:
        final_hour = final_hours.get((record.hour, record.key, record.quantity))
        if final_hour is None:
            return True
        if final_hour not in answers_of:
            answered = (e for e in entries_of_hour(final_hour) if e.status != "pending")
            answers_of[final_hour] = {e.record.key: e.status for e in answered}
        own = answers_of[final_hour].get(record.key)
        return own == "dry_run" if own else dry(final_hour)

    in_dry_hours = [r for r in records if dry(r.hour)]
    final_hours = _placed_carries(ledger, in_dry_hours)
    return [r for r in in_dry_hours if goes_dry(r)]


def _placed_carries(
    ledger: CarryReader, records: list[MeteringRecord]
) -> dict[tuple[datetime, str, Decimal], datetime]:
    """Of ``records``, (hour, key, quantity) of those a leaving buyer's carry was placed as (``placed_carries``), with
    the final hour it was carried from: carries into the hours after theirs, as far as a placement reaches back (the
    metering window)."""
    if not records:
        return {}
    first, last = min(r.hour for r in records) + HOUR, max(r.hour for r in records) + METERING_WINDOW + HOUR
    placed: dict[tuple[datetime, str, Decimal], datetime] = {}
    target = first
    while target <= last:
        for carry, placement in ledger.placements_into(target):
            placed.update(((where, carry.key, quantity), target - HOUR) for where, quantity in placement if where)
        target += HOUR
    return placed


def hour_records(deps: FlushDeps, hour: datetime) -> tuple[list[MeteringRecord], list[MeteringRecord]]:
    """The hour's records and what they carry into the next hour. The events stream through: memory grows with the
    hour's customers and dimensions, not with its events."""
    events = itertools.chain(deps.usage.events_of_hour(hour), deps.usage.late_events_billed_in(hour))
    # a carry a leaving buyer's final usage billed in earlier hours instead is not this hour's
    carried = [carry for carry in deps.ledger.carried_into(hour) if deps.ledger.consume_carry(carry)]
    return spill(hour, aggregate(hour, events, deps.settings.products), carried)


def finish_placements(deps: FlushDeps, hour: datetime) -> list[MeteringRecord]:
    """Write the records of every carry into ``hour`` that a leaving buyer's final-usage step placed in earlier hours
    of theirs (or parked), as that step writes them, and return those still to send. A step that dies after placing
    and is never retried (the buyer came back under a reused legacy identifier: no final usage is due any more) would
    leave the carry billed nowhere: the hour's sealing does not take a placed carry in. Records stored already keep
    what they have (the step finished, or an operator redrove one); a parked one still pending is parked when queued
    (``cannot_send``), never sent. A step still running may write the same records: the same totals, answered once
    by Marketplace."""
    records = [r for carry, placement in deps.ledger.placements_into(hour) for r in placed_records(carry, placement)]
    return deps.ledger.write_pending(records)


def _seal_closed_hours(
    deps: FlushDeps,
    now: datetime,
    out_of_time: Callable[[], bool],
    sealed_records: Callable[[list[MeteringRecord]], None],
    placed_to_send: Callable[[list[MeteringRecord]], list[MeteringRecord]],
) -> tuple[int, bool, datetime]:
    """Seal closed hours oldest first, handing each hour's records to ``sealed_records``, with the records of carries
    into it placed in earlier hours that ``placed_to_send`` keeps; (hours sealed, stopped, the first hour not sealed
    by this run)."""
    grace = timedelta(seconds=deps.settings.flush_grace_seconds)
    products = deps.settings.products
    # nothing older than the metering window can have been accepted, so a first run starts there
    hour = deps.ledger.next_hour_to_seal() or hour_of(now - METERING_WINDOW)
    sealed = 0
    while closed(hour, now, grace):
        if out_of_time():
            return sealed, True, hour
        records, carry = hour_records(deps, hour)
        if any(p.zero_usage_records for p in products):
            records += zero_records(hour, records, products, deps.customers.list_all())
        unsent = deps.ledger.write_hour(hour, records)
        if carry:
            deps.ledger.write_carry(carry)
        unsent += placed_to_send(finish_placements(deps, hour))
        if not deps.ledger.seal(hour, dry_run=not deps.settings.bills):
            break  # another flush sealed it (same records): it is sending them
        sealed_records(unsent)
        sealed += 1
        hour += HOUR
    return sealed, False, hour


class _Batcher:
    """Full calls of one product each, in the records' order (one product per BatchMeterUsage call), each under both
    of the call's caps (records and bytes). A call holds one hour's records: the calls are then the ledger's chunks,
    and each call's outcomes one write."""

    def __init__(self, submit: Callable[[list[MeteringRecord]], Future[None]]) -> None:
        self._submit = submit
        self._packers: dict[str, CallPacker] = defaultdict(CallPacker)
        self._hours: dict[str, datetime] = {}
        self.submitted: list[Future[None]] = []

    def add(self, records: Iterable[MeteringRecord]) -> None:
        for record in records:
            packer = self._packers[record.product_code]
            if self._hours.setdefault(record.product_code, record.hour) != record.hour:
                self._hours[record.product_code] = record.hour
                if call := packer.rest():
                    self.submitted.append(self._submit(call))
            self.submitted.extend(self._submit(call) for call in packer.add(record))

    def finish(self) -> list[Future[None]]:
        self.submitted.extend(self._submit(call) for packer in self._packers.values() if (call := packer.rest()))
        self._packers.clear()
        return self.submitted


def _tally(
    report: FlushReport, tally: SendTally, parked: list[RecordResult], now: datetime, sealing_left: bool
) -> None:
    report.records_sent = tally.sent
    report.records_retried = tally.retried
    for result in [*tally.results, *parked]:
        if result.status == "sent":
            report.succeeded += 1
        elif result.status == "dry_run":
            report.dry_run += 1
        else:
            report.failed[result.reason or result.status] += 1
        report.not_subscribed += result.status == "not_subscribed"
        report.duplicates += result.status == "duplicate"
    report.left_pending = len(tally.left_pending)
    report.unprocessed_after_retries = tally.exhausted
    if tally.left_pending:
        oldest = min(r.hour for r in tally.left_pending)
        report.oldest_unsent_hour_age_seconds = (now - oldest).total_seconds()
    # Stopped for the deadline with work left: worth continuing at once. Records whose retries ran out wait for the
    # next scheduled run (Marketplace is refusing them now; an immediate rerun would only hammer it).
    report.more_work = sealing_left or report.left_pending > report.unprocessed_after_retries
