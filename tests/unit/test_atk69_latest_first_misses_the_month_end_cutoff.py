"""Attack 69 on 9d1a58a: a leaving buyer's final-usage step sends its records LATEST FIRST (``send_customer_usage``
sorts them by hour, reverse), so last month's records, the ones Marketplace stops taking first (06:00 UTC on the
1st), go in the step's LAST call. A step that gets only its first call(s) out (its invocation out of time: the
lifecycle function's 120 s, the shared quota's slots taken by the month-end flush's backlog; or throttled, or killed)
leaves last month's records pending; its SQS redelivery comes a visibility timeout (12 minutes) later, and the
flush's month-end schedule last runs at 05:50: past 06:00 both park them ``TimestampOutOfBoundsException``. Sent
oldest first (the order before: the pending records of sealed hours, oldest first, then the open hours; the flush's
own order, "nearest the 24-hour limit and the month-end cutoff"), the same one call bills them.

Scenario: a product of five dimensions; the buyer uses 1,000 units of each dimension every hour from 23:00 on
30 November to 05:00 on 1 December (seven hours, 35 records). Marketplace is down from 23:00 to 05:51: every hourly
and month-end flush (the last at 05:50) leaves the sealed hours 23:00-04:00 pending. The buyer leaves (cutoff 05:50);
their final-usage step runs at 05:51, Marketplace back, and has time for ONE call (25 records) before its
invocation is out of time: ``CustomerUsageIncomplete``, the message redelivered at 06:03. Then the 06:06 flush.

Result: this stack's one call holds 05:00-01:00; the 5,000 units of 30 November 23:00 are parked out of window at
06:03, never billed. Sent oldest first, that call holds 23:00-03:00 and all 5,000 are billed; the retry bills
04:00-05:00 in the current month. Invariant 2 (a leaving buyer's final usage billed in time: 5,000 units of last
month's usage lost to the order alone, where Marketplace would have taken them). The same holds at the 24-hour
window (a record 23 h 50 min old behind 25 newer ones, the next flush at :06 past its 24 hours).

Age: new with 9d1a58a (on 9d1a58a~1 the step's first call holds the sealed hours' pending records, oldest first).

Fix direction: send oldest first, and answer a placed carry after its final hour's record otherwise (write a
call's outcomes final hour first, or sort so that only a carry follows its final hour's record); or sort by the
window's deadline (last month's records before the 1st's, each hour's by its 24 hours), keeping attack 68's order
within what is sent in one call.

Fixed (caf6802): the step sends oldest first again, only the carries it placed last."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from functions.clock import Clock
from functions.customers.model import SubscriptionState
from functions.flush.customer import CustomerUsageIncomplete, send_customer_usage
from functions.flush.records import BatchOutcome, MeteringRecord, MeteringUnavailable
from functions.flush.service import MONTH_END_RUNS_EVERY, OUT_OF_WINDOW, flush
from functions.settings import Dimension
from tests.fakes import FakeMarketplace
from tests.unit.review23_world import PRODUCT, World

DIMENSIONS = tuple(f"d{n}" for n in range(5))
LAST_HOUR_OF_NOVEMBER = datetime(2026, 11, 30, 23, tzinfo=UTC)
FIRST = datetime(2026, 12, 1, tzinfo=UTC)
BACK = FIRST + timedelta(hours=5, minutes=51)  # Marketplace answers again
UNITS = 1_000


class Unpaced:
    """The rate limiter, never waiting (the calls' pacing is not what this test is about)."""

    def acquire(self, stop: Callable[[], bool] = lambda: False) -> bool:
        return True


class DownUntil(FakeMarketplace):
    """Marketplace down (ThrottlingException, as the flush's retries see it) from ``down`` until ``back``."""

    def __init__(self, clock: Clock, down: datetime, back: datetime) -> None:
        super().__init__()
        self.clock = clock
        self.down, self.back = down, back

    def batch_meter_usage(self, records: Sequence[MeteringRecord]) -> BatchOutcome:
        now = self.clock.now()
        if self.down <= now < self.back:
            self.calls.append(list(records))
            raise MeteringUnavailable("ThrottlingException", "Rate exceeded")
        return super().batch_meter_usage(records)


def test_a_leavers_step_sends_last_months_records_before_the_cutoff() -> None:
    product = replace(PRODUCT, dimensions=tuple(Dimension(d) for d in DIMENSIONS))
    world = World(product=product)
    marketplace = DownUntil(world.clock, LAST_HOUR_OF_NOVEMBER, BACK)
    world.marketplace = marketplace
    world.deps = replace(world.deps, gateway=marketplace, limiter=Unpaced())
    world.subscribe()

    # the buyer's usage, 23:00 on the 30th to 05:00 on the 1st; the flush's hourly runs (:06) and its month-end
    # schedule (every 10 minutes on the 1st until 05:50) meanwhile, Marketplace down throughout
    world.clock.set(LAST_HOUR_OF_NOVEMBER - timedelta(minutes=54))
    flush(world.deps, remaining_ms=lambda: 900_000)  # 22:06: every hour before 22:00 sealed
    runs = [LAST_HOUR_OF_NOVEMBER + timedelta(hours=h, minutes=6) for h in range(6)]
    runs += [FIRST + n * MONTH_END_RUNS_EVERY for n in range(36)]
    usage = [LAST_HOUR_OF_NOVEMBER + timedelta(hours=h, minutes=15) for h in range(7)]
    for moment in sorted([*runs, *usage]):
        world.clock.set(moment)
        if moment in usage:
            events = [world.usage_event(f"{moment:%d%H}-{d}", UNITS, dimension=d) for d in DIMENSIONS]
            assert len(world.record(*events).accepted) == len(DIMENSIONS)
        else:
            flush(world.deps, remaining_ms=lambda: 900_000)
    pending = [e for e in world.ledger.entries_of_hour(LAST_HOUR_OF_NOVEMBER) if e.status == "pending"]
    assert len(pending) == len(DIMENSIONS)  # the 05:50 run, the last before the cutoff, could not send them

    # the buyer leaves (cutoff 05:50); their step at 05:51, Marketplace back, has time for one call
    cutoff = FIRST + timedelta(hours=5, minutes=50)
    leaving = replace(world.customer(), state=SubscriptionState.ENDING, final_usage_cutoff=cutoff)
    world.clock.set(BACK)
    calls_before = len(marketplace.calls)
    with pytest.raises(CustomerUsageIncomplete):
        send_customer_usage(leaving, world.deps, out_of_time=lambda: len(marketplace.calls) > calls_before)
    # SQS delivers the step again after the queue's visibility timeout (12 minutes); the hourly flush at 06:06
    world.clock.set(BACK + timedelta(seconds=720))
    send_customer_usage(leaving, world.deps, out_of_time=lambda: False)
    world.clock.set(FIRST + timedelta(hours=6, minutes=6))
    flush(world.deps, remaining_ms=lambda: 900_000)

    by_hour: dict[datetime, int] = {}
    for (_, _, at), (record, _) in marketplace.billed.items():
        by_hour[at] = by_hour.get(at, 0) + int(record.quantity)
    november = by_hour.get(LAST_HOUR_OF_NOVEMBER, 0)
    parked = [
        (e.record.dimension, int(e.record.quantity))
        for e in world.ledger.entries_of_hour(LAST_HOUR_OF_NOVEMBER)
        if e.status == "failed" and e.reason == OUT_OF_WINDOW
    ]
    assert sum(by_hour.values()) - november == 6 * len(DIMENSIONS) * UNITS  # December's hours all billed
    assert november == len(DIMENSIONS) * UNITS, (
        f"of the leaving buyer's last hour of November (5,000 units, pending at 05:51 with Marketplace taking it until "
        f"06:00), {november} units billed: the step's one call held December's hours, sent latest first; parked out "
        f"of window at the retry: {parked}"
    )
