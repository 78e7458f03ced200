"""Send sealed records: a client-side rate limit, jittered retries of identical records, bisection of rejections."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from functions.flush.records import BatchRejected, MeteringGateway, MeteringRecord, MeteringUnavailable, RecordResult

# Marketplace's statuses, and DryRun: what functions.flush.dry_run answers instead of billing
_STATUS = {
    "Success": "sent",
    "CustomerNotSubscribed": "not_subscribed",
    "DuplicateRecord": "duplicate",
    "DryRun": "dry_run",
}


# how often a wait for a slot looks at whether the run must stop (a slot can be minutes away: a low rate, or other
# senders holding the schedule)
STOP_CHECK_SECONDS = 1.0


def _never() -> bool:
    return False


class RateLimiter(Protocol):
    def acquire(self, stop: Callable[[], bool] = _never) -> bool:
        """Wait until one more BatchMeterUsage call may be made: True; False if ``stop`` turned true first (the run
        reached the time it keeps for itself), the slot left unused (an unused slot never breaches the quota)."""
        ...


def _sleep_until(
    moment: float, clock: Callable[[], float], sleep: Callable[[float], None], stop: Callable[[], bool]
) -> bool:
    """Sleep until ``moment`` of ``clock``, looking at ``stop`` every ``STOP_CHECK_SECONDS``: False if it turns true."""
    while (wait := moment - clock()) > STOP_CHECK_SECONDS:
        sleep(STOP_CHECK_SECONDS)
        if stop():
            return False
    if wait > 0:
        sleep(wait)
    return True


class TokenBucket:
    """At most ``rate`` acquisitions per second, evenly spaced: saturates a quota without bursting past it."""

    def __init__(
        self,
        rate: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / rate
        self._monotonic = monotonic
        self._sleep = sleep
        self._next = monotonic()
        self._lock = threading.Lock()

    def acquire(self, stop: Callable[[], bool] = _never) -> bool:
        with self._lock:
            now = self._monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        return _sleep_until(slot, self._monotonic, self._sleep, stop)


class QuotaSlots(Protocol):
    def reserve(self, count: int, interval: float, now: float) -> float:
        """Take the next ``count`` slots, ``interval`` seconds apart, of the one call schedule every sender of the
        account and Region shares: the first slot's time (seconds since the epoch), ``now`` at the earliest."""
        ...


class SharedTokenBucket:
    """At most ``rate`` calls a second for every sender that shares ``slots``: the flush's calls in flight and each
    leaving buyer's final usage, in as many Lambda invocations as there are. Each takes its call slots from one shared
    schedule, evenly spaced, so together they saturate the quota and never burst past it.

    Slots are taken a block at a time: one, one, then twice as many each time while the sender keeps calling, up to
    ``MAX_BLOCK_SECONDS`` of the rate; a sender that took none for ``IDLE_SECONDS`` (a warm Lambda's next invocation)
    starts again at one. A final-usage step making a call or two takes what it uses; the flush takes a few blocks a
    second. One block is on its way at a time: a worker that finds no slot while it is waits for it (looking again
    every ``WAIT_SECONDS`` at most, through ``sleep``: the simulator runs these workers as its own actors), so a flush
    of many workers makes one reservation per block, not one per call (a write each, all to one item). A slot missed by
    more than one interval or ``LATE_SECONDS`` (every worker was busy, or the process stalled while a worker slept
    until it) is left unused, judged when it is spent: spending it late would be a burst on top of the other senders'
    slots. A block that came back due is spent from then on: its first slot at once, the next one interval later.
    """

    MAX_BLOCK_SECONDS = 0.5
    IDLE_SECONDS = 1.0
    WAIT_SECONDS = 0.01  # about a reservation's round trip
    LATE_SECONDS = 0.025

    def __init__(
        self,
        rate: float,
        slots: QuotaSlots,
        *,
        clock: Callable[[], float] = time.time,  # the schedule is shared across machines: wall-clock time
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / rate
        # how late a slot may still be spent: one interval, or LATE_SECONDS where that is shorter than a thread's
        # wake-up on a loaded machine (below it, a two-core run spent 0.82-0.91 of 160 calls/s, the rest woke late)
        self._late = max(self._interval, self.LATE_SECONDS)
        self._slots = slots
        self._clock = clock
        self._sleep = sleep
        self._max_block = max(1, math.floor(rate * self.MAX_BLOCK_SECONDS))
        self._block = 1
        self._blocks = 0
        self._reserved_at = -math.inf
        self._reserving = False  # a block on its way
        self._free: deque[float] = deque()
        self._lock = threading.Lock()

    def _next_block(self, now: float) -> int:
        """How many slots to reserve now (under the lock)."""
        if now - self._reserved_at > self.IDLE_SECONDS:
            self._block, self._blocks = 1, 0
        self._reserved_at = now
        block = self._block
        self._blocks += 1
        if self._blocks >= 2:
            self._block = min(2 * self._block, self._max_block)
        return block

    def acquire(self, stop: Callable[[], bool] = _never) -> bool:
        # a slot is judged when it is spent, not only when it is taken: a worker holds its slot while it sleeps until
        # it, and a process that stalls meanwhile (a Lambda's CPU share used up, a full garbage collection) must not
        # spend every slot its workers held at the instant it resumes (attack 87); one more late than its room
        # allows is left unused, and another taken
        while True:
            slot, already_due = self._take()
            if already_due:
                return True
            if not _sleep_until(slot, self._clock, self._sleep, stop):
                return False
            if self._clock() - slot <= self._late:
                return True

    def _take(self) -> tuple[float, bool]:
        """A slot of this sender's, and whether it is the first of a block this worker reserved that was due by the time
        the reservation came back (spent at once, however late: an idle schedule's one slot would otherwise never be
        in time when a reservation takes longer than an interval)."""
        while True:
            with self._lock:
                now = self._clock()
                while self._free and self._free[0] < now - self._late:
                    self._free.popleft()
                slot = self._free.popleft() if self._free else None
                waiting = slot is None and self._reserving
                if slot is None and not waiting:
                    self._reserving = True
                    block = self._next_block(now)
            if not waiting:
                break
            self._sleep(min(self.WAIT_SECONDS, self._interval))  # the block on its way
        if slot is None:
            # reserved outside the lock (a write to DynamoDB); the workers that find no slot meanwhile wait for it
            try:
                slot = self._slots.reserve(block, self._interval, now)
            finally:
                with self._lock:
                    self._reserving = False
                    if slot is not None:
                        # a block that came back due is spent from now: its first slot at once, the rest one
                        # interval apart from it (those due meanwhile left unused, not spent beside it)
                        spent_at = max(slot, self._clock())
                        self._free.extend(
                            later
                            for later in (slot + n * self._interval for n in range(1, block))
                            if later >= spent_at + self._interval - 1e-9
                        )
            return slot, slot <= self._clock()
        return slot, False


@dataclass
class Backoff:
    """Full-jitter exponential backoff: the n-th retry waits uniform(0, min(cap, base * 2**n)) seconds."""

    base: float = 0.2
    cap: float = 10.0
    attempts: int = 8
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def wait(self, retry: int) -> None:
        self.sleep(self.rng.uniform(0, min(self.cap, self.base * 2**retry)))


@dataclass
class SendTally:
    """What the sending workers did together in one run (shared between threads, under ``lock``)."""

    sent: int = 0  # records in calls made (retries included)
    retried: int = 0
    results: list[RecordResult] = field(default_factory=list)
    left_pending: list[MeteringRecord] = field(default_factory=list)
    exhausted: int = 0  # of left_pending: still unprocessed, throttled or 5xx after every retry (not out of time)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, *, sent: int = 0, retried: int = 0) -> None:
        with self.lock:
            self.sent += sent
            self.retried += retried


class Sender:
    def __init__(
        self,
        gateway: MeteringGateway,
        limiter: RateLimiter,
        backoff: Backoff,
        out_of_time: Callable[[], bool],
    ) -> None:
        self._gateway = gateway
        self._limiter = limiter
        self._backoff = backoff
        self._out_of_time = out_of_time

    def deliver(self, records: Sequence[MeteringRecord], tally: SendTally) -> list[RecordResult]:
        """Outcomes of ``records`` (one product, up to 25); records still unsent are added to ``tally.left_pending``.

        Retries resend the very same records (Marketplace answers an identical record with its first
        MeteringRecordId), so a lost response or a killed run never bills twice.
        """
        results: list[RecordResult] = []
        pending = list(records)
        retry = 0
        while pending:
            if retry > self._backoff.attempts or not self._turn(retry, len(pending), tally):
                with tally.lock:
                    tally.left_pending.extend(pending)
                    tally.exhausted += len(pending) if retry > self._backoff.attempts else 0
                break
            tally.add(sent=len(pending))
            try:
                outcome = self._gateway.batch_meter_usage(pending)
            except MeteringUnavailable:
                retry += 1
                continue
            except BatchRejected as rejection:
                results.extend(self._isolate(pending, rejection, tally))
                break
            results.extend(
                RecordResult(o.record, _STATUS.get(o.status, "failed"), o.metering_record_id, _reason(o.status))
                for o in outcome.outcomes
            )
            # the records not answered: those left unprocessed, and any the answer names nowhere (an answer cut off on
            # its way back reads as naming none: attack 89), of unknown outcome both, sent again as they are
            answered = {(o.record.hour, o.record.key) for o in outcome.outcomes}
            pending = [r for r in pending if (r.hour, r.key) not in answered]
            retry = retry + 1 if pending else 0
        return results

    def _turn(self, retry: int, records: int, tally: SendTally) -> bool:
        """Wait for the call's turn: its backoff if a retry, then its slot of the quota; False if the run must stop
        first (before the wait, or while waiting for a slot: a slot can be minutes away, past the run's deadline)."""
        if self._out_of_time():
            return False
        if retry:
            self._backoff.wait(retry)
        if not self._limiter.acquire(self._out_of_time):
            return False
        if retry:  # counted once the call is made; a first try takes no shared lock for it
            tally.add(retried=records)
        return True

    def _isolate(self, records: list[MeteringRecord], rejection: BatchRejected, tally: SendTally) -> list[RecordResult]:
        # One bad record rejects its whole batch: halve until it stands alone, so every good record is billed.
        if len(records) == 1:
            return [RecordResult(records[0], "failed", None, rejection.code)]
        middle = len(records) // 2
        return self.deliver(records[:middle], tally) + self.deliver(records[middle:], tally)


def _reason(status: str) -> str | None:
    return None if status in ("Success", "DryRun") else status
