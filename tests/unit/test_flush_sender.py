"""Sender with an in-memory fake of our MeteringGateway: bisection, retries of identical records, the rate limit."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

from functions.flush.records import MeteringRecord
from functions.flush.sender import Backoff, Sender, SendTally, SharedTokenBucket, TokenBucket
from functions.flush.service import HELD_SECONDS, workers_for
from functions.settings import MAX_METERING_CALLS_PER_SECOND
from functions.wiring.aws_clients import DYNAMODB_CONFIG, NO_RETRY_CONFIG
from tests.fakes import FakeMarketplace, InMemoryQuotaSlots

HOUR = datetime(2026, 11, 26, 9, tzinfo=UTC)


def _record(n: int) -> MeteringRecord:
    return MeteringRecord(f"p#c{n}#d", HOUR, "p", f"c{n}", "123456789012", "d", Decimal(n), True, license_arn=f"l{n}")


def _sender(gateway: FakeMarketplace, sleeps: list[float]) -> Sender:
    return Sender(gateway, TokenBucket(1000, sleep=sleeps.append), Backoff(sleep=sleeps.append), lambda: False)


def test_one_bad_record_is_isolated_and_every_good_one_billed() -> None:
    # Given a batch of 25 with one record Marketplace rejects
    gateway = FakeMarketplace(refuse={"l7"})
    # When it is delivered
    results = _sender(gateway, []).deliver([_record(n) for n in range(25)], SendTally())
    # Then 24 are sent and the bad one is parked failed with the reason
    assert sorted(r.status for r in results).count("sent") == 24
    failed = [r for r in results if r.status == "failed"]
    assert [(r.record.key, r.reason) for r in failed] == [("p#c7#d", "InvalidLicenseException")]


def test_throttling_is_retried_with_the_identical_records_after_a_jittered_wait() -> None:
    gateway = FakeMarketplace(unavailable=3)
    sleeps: list[float] = []
    records = [_record(n) for n in range(5)]
    results = _sender(gateway, sleeps).deliver(records, SendTally())
    assert [r.status for r in results] == ["sent"] * 5
    assert all(call == records for call in gateway.calls)
    assert len(gateway.calls) == 4
    assert len([s for s in sleeps if s > 0]) >= 1


def test_the_token_bucket_spaces_calls_at_the_rate() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(10, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(11):
        bucket.acquire()
    assert abs(now[0] - 1.0) < 1e-9  # 11 calls at 10/s: the 11th waits until t = 1 s


class _Time:
    """One clock for senders that sleep in turn (each sleep moves it)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.calls: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _call(bucket: SharedTokenBucket, time: _Time) -> None:
    bucket.acquire()
    time.calls.append(time.now)


def test_senders_sharing_the_schedule_together_keep_to_the_rate() -> None:
    # Given the flush and three leaving buyers' final-usage steps, each with its own bucket (its own Lambda) at the
    # full rate of 10 calls/s, over one shared schedule
    time, slots = _Time(), InMemoryQuotaSlots()
    flush, *leaving = [SharedTokenBucket(10, slots, clock=lambda: time.now, sleep=time.sleep) for _ in range(4)]
    # When the flush calls steadily and each leaving buyer makes two calls among its calls
    for n in range(40):
        _call(flush, time)
        if n in (5, 12, 20):
            for bucket in leaving:
                _call(bucket, time)
    # Then no two of the 46 calls are closer than a tenth of a second: together at the rate, not four times it
    gaps = [later - earlier for earlier, later in zip(time.calls, time.calls[1:], strict=False)]
    assert min(gaps) >= 0.1 - 1e-6
    # and taking a block at a time, the flush reserved a handful of times, not once per call
    assert len(slots.blocks) < 46 / 2


def test_a_sender_takes_one_slot_then_doubling_blocks_up_to_half_a_second_of_the_rate() -> None:
    time, slots = _Time(), InMemoryQuotaSlots()
    bucket = SharedTokenBucket(40, slots, clock=lambda: time.now, sleep=time.sleep)
    for _ in range(80):
        bucket.acquire()
    # 1, 1, 2, 4, 8, 16, then 20 at a time (half a second at 40 calls/s)
    assert slots.blocks[:8] == [1, 1, 2, 4, 8, 16, 20, 20]


def test_a_slot_missed_while_every_worker_was_busy_is_left_unused() -> None:
    # Given a sender holding a block of slots for the next half second
    time, slots = _Time(), InMemoryQuotaSlots()
    bucket = SharedTokenBucket(10, slots, clock=lambda: time.now, sleep=time.sleep)
    for _ in range(8):
        _call(bucket, time)
    # When it calls again only after a pause longer than its block
    time.now += 2.0
    _call(bucket, time)
    _call(bucket, time)
    # Then it does not spend the missed slots at once (a burst): its calls are a tenth of a second apart again
    assert time.calls[-1] - time.calls[-2] >= 0.1 - 1e-6


def test_a_sender_idle_for_a_second_takes_one_slot_again_not_a_whole_block() -> None:
    # Given a warm Lambda's bucket that took growing blocks in its last invocation
    time, slots = _Time(), InMemoryQuotaSlots()
    bucket = SharedTokenBucket(40, slots, clock=lambda: time.now, sleep=time.sleep)
    for _ in range(40):
        bucket.acquire()
    # When its next invocation, a minute later, makes one call
    time.now += 60
    blocks = len(slots.blocks)
    bucket.acquire()
    # Then it reserved one slot, leaving the rest of the schedule to the other senders
    assert slots.blocks[blocks:] == [1]


def test_a_worker_finding_no_slot_while_a_block_is_on_its_way_waits_for_it_instead_of_reserving_its_own() -> None:
    # Given a flush's bucket whose third reservation (a block of 2) is on its way when another worker asks for a slot
    time = _Time()
    bucket: SharedTokenBucket
    other = threading.Thread(target=lambda: _call(bucket, time))
    other_acted, block_arrived = threading.Event(), threading.Event()

    def sleep(seconds: float) -> None:
        if threading.current_thread() is other and not block_arrived.is_set():
            other_acted.set()  # waiting for the block
            block_arrived.wait()
        else:
            time.sleep(seconds)

    class SlowSlots(InMemoryQuotaSlots):
        def reserve(self, count: int, interval: float, now: float) -> float:
            if threading.current_thread() is other:
                other_acted.set()  # reserving a slot of its own (the code before: one write per call)
            elif count > 1:
                other.start()  # the other worker, meanwhile
                other_acted.wait()
            return super().reserve(count, interval, now)

    slots = SlowSlots()
    bucket = SharedTokenBucket(40, slots, clock=lambda: time.now, sleep=sleep)
    bucket.acquire()
    bucket.acquire()
    # When the block arrives
    bucket.acquire()
    block_arrived.set()
    other.join()
    # Then the waiting worker took the block's second slot: one reservation for the two of them
    assert slots.blocks == [1, 1, 2]
    assert len(time.calls) == 1  # the other worker made its call


def test_many_workers_make_one_reservation_per_block_not_one_per_call() -> None:
    # Given a flush's 16 workers sharing its bucket at 1,000 calls/s, each making 25 calls
    time = _Time()
    slots = InMemoryQuotaSlots()
    bucket = SharedTokenBucket(1000, slots, clock=lambda: time.now, sleep=lambda seconds: None)
    start = threading.Barrier(16)

    def worker() -> None:
        start.wait()
        for _ in range(25):
            bucket.acquire()

    workers = [threading.Thread(target=worker) for _ in range(16)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    # Then the 400 slots came in growing blocks, each reserved once: 1, 1, 2, 4, ... (a handful of writes, not 400)
    assert sum(slots.blocks) >= 400
    assert len(slots.blocks) <= 12
    assert slots.blocks[:6] == [1, 1, 2, 4, 8, 16]


def test_the_flush_has_a_pooled_connection_for_each_of_its_workers_at_the_highest_rate_allowed() -> None:
    # a worker without one opens and throws away a connection per call (urllib3: "Connection pool is full")
    workers = workers_for(Decimal(MAX_METERING_CALLS_PER_SECOND))
    assert workers == 160  # a worker per 0.8 s of the rate: a slot is never missed for want of a free worker
    for config in (DYNAMODB_CONFIG, NO_RETRY_CONFIG):
        assert config.max_pool_connections >= workers


def test_at_a_low_rate_the_workers_hold_no_more_of_the_schedule_than_a_run_can_spend_before_its_deadline() -> None:
    # each worker sleeps until the slot it took: together they hold workers / rate seconds of the schedule, which must
    # end well inside the 60 s a run keeps in reserve (4 workers at 0.05 calls/s held 80 s)
    assert [workers_for(Decimal(rate)) for rate in ("0.01", "0.05", "0.1", "0.2", "1", "10", "160")] == [
        1, 1, 2, 4, 4, 8, 128,
    ]  # fmt: skip
    for rate in (Decimal("0.05"), Decimal("0.1"), Decimal("0.15"), Decimal("0.2"), Decimal("0.5"), Decimal(1)):
        assert workers_for(rate) / rate <= HELD_SECONDS
