"""Attack 88 on 95f9abe ("at a low rate the workers hold at most 20 s of the schedule, so a run makes the calls it took
slots for before its deadline"): the bound ``workers / rate <= HELD_SECONDS`` is clamped to one worker, and one worker
holds ``1 / rate`` seconds. Settings accept any rate above 0 (``0 < metering_calls_per_second <= 200``). Below
1/60 calls/s (one call a minute) the single worker checks ``out_of_time`` (61 s left, not yet out of time), takes the
next slot of the shared schedule ``1 / rate`` seconds ahead and sleeps until it: past the Lambda's deadline.

More generally, ``Sender.deliver`` checks ``out_of_time`` *before* ``limiter.acquire()`` and never after, and the wait
in ``SharedTokenBucket.acquire`` is unbounded: the schedule is shared with every leaving buyer's final-usage step (the
lifecycle function, an SQS consumer without reserved concurrency), so at the default 10 calls/s, 1,000 buyers leaving
at once (contracts ending at midnight) push the next free slot 100 s out, and a flush worker that passed its check
with 61-100 s left sleeps through its deadline (second test; pre-existing, not introduced by the change, but the
change's claim does not hold at any rate while other senders share the schedule).

At stake: the flush invocation is killed by Lambda (900 s timeout) mid-sleep: no report/metrics, no
``continue_later`` for the backlog, the unsent mark not moved, a Lambda error each run; the slot it reserved is
wasted. At rate <= 1/900 calls/s each run reserves a slot beyond its own lifetime and dies: the schedule runs ahead
of the clock by 1/rate - 3600 s every hour and, after the first call of an idle schedule, nothing is ever billed
again (every record ages out of the 24-hour window).

Suggested fix: give the limiter the run's deadline (``acquire(until=...)`` / ``acquire() -> bool``): a slot later
than the deadline less the time a call takes is not slept for (left unused: unused slots never breach the quota) and
the worker leaves its batch pending, as ``out_of_time`` does; and/or refuse rates below ~1/60 calls/s in Settings.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from functions.clock import ManualClock
from functions.flush.sender import Backoff, SharedTokenBucket
from functions.flush.service import HELD_SECONDS, FlushDeps, flush
from functions.settings import Dimension, InvalidField, Product, Settings
from tests.fakes import (
    FakeMarketplace,
    InMemoryCustomers,
    InMemoryLedger,
    InMemoryQuotaSlots,
    InMemoryUsage,
    licence_buyers_usage,
)

START = datetime(2026, 11, 26, 9, tzinfo=UTC)
NOW = START + timedelta(hours=1, minutes=6)
PRODUCT = Product(code="p", name="P", dimensions=(Dimension("calls"),))
LICENCE = "arn:aws:license-manager::294406891311:license:l-{:04d}"
TIMEOUT = 900.0  # the flush function's timeout (stacks/constructs/flush.py)
RESERVE_SECONDS = 60  # flush()'s reserve_ms


class Time:
    """The run's wall clock: moves only when a worker sleeps (calls answer at once)."""

    def __init__(self) -> None:
        self.t = NOW.timestamp()
        self.deadline = self.t + TIMEOUT
        self.latest_wake = self.t
        self.lock = threading.Lock()

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.t += max(seconds, 0.0)
            self.latest_wake = max(self.latest_wake, self.t)

    def remaining_ms(self) -> int:
        return int((self.deadline - self.t) * 1000)


def _run(
    rate: Decimal, customers: int, *, seconds_left: float = TIMEOUT, others_hold_seconds: float = 0.0
) -> tuple[Time, FakeMarketplace]:
    time = Time()
    time.deadline = time.t + seconds_left
    slots = InMemoryQuotaSlots()
    if others_hold_seconds:  # other senders of the account (leaving buyers' final usage) took the next slots
        slots.next = time.t + others_hold_seconds
    store = InMemoryUsage()
    store.add(licence_buyers_usage(customers, START + timedelta(minutes=10)))
    marketplace = FakeMarketplace()
    deps = FlushDeps(
        settings=Settings(products=(PRODUCT,), metering_calls_per_second=rate),
        usage=store,
        ledger=InMemoryLedger(),
        customers=InMemoryCustomers(),
        gateway=marketplace,
        clock=ManualClock(NOW),
        backoff=Backoff(sleep=time.sleep),
        workers=None,  # as production: workers_for(rate)
        limiter=SharedTokenBucket(float(rate), slots, clock=time.clock, sleep=time.sleep),
    )
    flush(deps, remaining_ms=time.remaining_ms)
    return time, marketplace


@pytest.mark.parametrize("rate", ["0.01", "0.005"])
def test_a_rate_below_one_call_a_minute_is_refused_naming_the_field(rate: str) -> None:
    # attack 89: at such a rate every run gave its slot up and continued into the next (the schedule ran ahead)
    with pytest.raises(InvalidField) as refusal:
        Settings(products=(PRODUCT,), metering_calls_per_second=Decimal(rate))
    assert refusal.value.field == "metering_calls_per_second"
    assert "one call a minute" in str(refusal.value)


@pytest.mark.parametrize("rate", ["0.0167", "0.05"])
def test_at_a_low_allowed_rate_the_flush_never_sleeps_past_its_deadline(rate: str) -> None:
    # Given a backlog of 40 calls (1,000 buyers' hour) and a rate Settings accepts (0 < rate <= 200)
    time, marketplace = _run(Decimal(rate), customers=1000)
    # Then the run makes every call it took a slot for while the 60 s it keeps for itself less HELD_SECONDS (the
    # change's own bound) are still left, time for the call (up to 25 s of timeouts) and its outcome's write; on
    # 95f9abe, at 0.01 calls/s the last slot was at the very deadline, at 0.005 100 s past it (killed while asleep)
    overrun = time.latest_wake - (time.deadline - (RESERVE_SECONDS - HELD_SECONDS))
    assert overrun <= 0, f"{len(marketplace.calls)} calls, then asleep {overrun:.0f} s past the last moment to call"


def test_a_flush_does_not_sleep_past_its_deadline_when_other_senders_hold_the_schedule() -> None:
    # Given the default 10 calls/s, 1,000 leaving buyers' final-usage calls holding the next 100 s of the shared
    # schedule, and a run with 90 s left (a continuation, or a run that spent its time sealing): past its 60 s check
    time, marketplace = _run(Decimal(10), customers=100, seconds_left=90, others_hold_seconds=100)
    # Then it does not sleep on a slot beyond its deadline
    overrun = time.latest_wake - time.deadline
    assert overrun <= 0, f"{len(marketplace.calls)} calls, then asleep {overrun:.0f} s past the deadline (killed)"
