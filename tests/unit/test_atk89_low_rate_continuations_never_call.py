"""Attack 89 on 6440fcb ("a wait for a slot ends with the run: a slot later than the run's reserve is given up, left
unused, and the batch left pending for the continuation"): a given-up slot is still the sender's in the shared
schedule (``QuotaSlots.reserve`` moved ``next`` past it), and ``more_work`` has the rest continued at once
(``flush_and_continue``). Settings take any rate above 0. Where one interval is longer than a run can wait (the flush
function's 900 s less the 60 s it keeps: rates under 1/840 calls/s), each run takes the next slot, gives it up at its
reserve and asks for a continuation, which takes the slot after that: the schedule runs one interval ahead of the
clock per run, less 840 s, so after the first call of an idle schedule no run ever reaches its slot again. Before the
change (95f9abe) the run slept through its deadline and was killed, and the next hourly run found the schedule idle
again (one call an hour up to 1/3600 calls/s); now the flush is a chain of 900 s invocations that never ends (the
hourly run finds the lease held) and bills nothing more.

At stake: every record of the account and Region after the first call (here 75 of 100 buyers' hour), aged out of
Marketplace's 24-hour window and parked; Lambda running without pause. Attack 88 flagged the rate (<= 1/900); the
fix moved the threshold from 1/3600 to 1/840 calls/s and added the endless chain.

Fixed: Settings refuse a rate below one call a minute (``test_atk88_...``: refused naming the field); this test runs
the chain at the lowest rate allowed.

Suggested fix: refuse rates whose interval a run cannot wait (Settings: at least 1/60 calls/s, which HELD_SECONDS
already assumes), or do not take a slot that lies past the run's reserve (``acquire(until=...)``: look at the
schedule's ``next`` before reserving), and do not continue at once when the only work left waits for the schedule.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from functions.clock import ManualClock
from functions.flush.sender import Backoff, SharedTokenBucket
from functions.flush.service import FlushDeps, flush_and_continue
from functions.settings import Dimension, Product, Settings
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


class Time:
    """Wall-clock time of the chain of runs: moves only when a worker sleeps (calls answer at once)."""

    def __init__(self) -> None:
        self.t = NOW.timestamp()
        self.deadline = self.t + TIMEOUT

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)

    def remaining_ms(self) -> int:
        return int((self.deadline - self.t) * 1000)


def test_a_chain_of_continuations_at_the_lowest_allowed_rate_makes_its_calls() -> None:
    # Given the lowest rate Settings accepts (one call a minute; 0.001 is refused now) and 100 buyers' hour: 4 calls
    rate = Decimal("0.0167")
    time = Time()
    store = InMemoryUsage()
    store.add(licence_buyers_usage(100, START + timedelta(minutes=10)))
    marketplace = FakeMarketplace()
    deps = FlushDeps(
        settings=Settings(products=(PRODUCT,), metering_calls_per_second=rate),
        usage=store,
        ledger=InMemoryLedger(),
        customers=InMemoryCustomers(),
        gateway=marketplace,
        clock=ManualClock(NOW),
        backoff=Backoff(sleep=time.sleep),
        limiter=SharedTokenBucket(float(rate), InMemoryQuotaSlots(), clock=time.clock, sleep=time.sleep),
    )
    continued = [True]
    runs = 0
    # When the flush runs, and each run that asks for it is continued at once (a new 900 s invocation), for 3 hours
    while continued[0] and runs < 12:
        continued[0] = False
        time.deadline = time.t + TIMEOUT
        flush_and_continue(deps, remaining_ms=time.remaining_ms, continue_later=lambda: continued.__setitem__(0, True))
        runs += 1
    # Then the 4 calls are made (4 minutes of the rate) within the back-to-back runs
    assert len(marketplace.calls) == 4, f"{len(marketplace.calls)} of 4 calls in {runs} runs ({runs * 840} s)"
