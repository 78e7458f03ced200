"""The call schedule every BatchMeterUsage sender shares, on DynamoDB Local: senders in as many threads (as many
Lambdas) take slots that never overlap, and an idle schedule starts again from now."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from functions.flush.quota import DynamoQuotaSlots
from functions.flush.sender import SharedTokenBucket
from functions.settings import Settings

NOW = 1_800_000_000.0
INTERVAL = 0.1


def test_a_new_schedule_starts_now_and_each_reservation_follows_the_last(settings: Settings, dynamodb: Any) -> None:
    slots = DynamoQuotaSlots(dynamodb, settings.metering_table)
    assert slots.reserve(1, INTERVAL, NOW) == NOW
    assert slots.reserve(4, INTERVAL, NOW) == NOW + INTERVAL
    # another sender, its clock a little behind, still gets the slots after those taken
    assert abs(DynamoQuotaSlots(dynamodb, settings.metering_table).reserve(2, INTERVAL, NOW - 1) - (NOW + 0.5)) < 1e-6


def test_an_idle_schedule_starts_again_from_now_not_from_its_last_slot(settings: Settings, dynamodb: Any) -> None:
    slots = DynamoQuotaSlots(dynamodb, settings.metering_table)
    slots.reserve(10, INTERVAL, NOW)
    later = NOW + 60
    assert slots.reserve(1, INTERVAL, later) == later
    assert abs(slots.reserve(1, INTERVAL, later) - (later + INTERVAL)) < 1e-6


def test_senders_reserving_at_once_get_slots_that_never_overlap(settings: Settings, dynamodb: Any) -> None:
    # Given 12 senders (each its own Lambda) reserving blocks of 3 at the same moment
    def reserve(_: int) -> float:
        return DynamoQuotaSlots(dynamodb, settings.metering_table).reserve(3, INTERVAL, NOW)

    with ThreadPoolExecutor(12) as pool:
        starts = sorted(pool.map(reserve, range(12)))
    # Then their 36 slots are one schedule, a tenth of a second apart, none taken twice
    slots = sorted(round(start + n * INTERVAL, 6) for start in starts for n in range(3))
    assert slots == [round(NOW + n * INTERVAL, 6) for n in range(36)]


def test_the_flush_wiring_paces_every_sender_on_the_tables_one_schedule(settings: Settings, dynamodb: Any) -> None:
    # Given two senders' buckets (two Lambdas) on the same table, with one clock that moves as they wait
    clock = [NOW]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    buckets = [
        SharedTokenBucket(10, DynamoQuotaSlots(dynamodb, settings.metering_table), clock=lambda: clock[0], sleep=sleep)
        for _ in range(2)
    ]
    calls: list[float] = []
    # When they call in turn (how close together is the bench's question: bench/shared_quota.py)
    for n in range(20):
        buckets[n % 2].acquire()
        calls.append(clock[0])
    # Then together they keep to 10 calls a second: each call in its own slot of the one schedule, spent at most an
    # interval late (a slot missed by more is left unused), so no second holds more than 10 + 1 calls
    assert max(sum(start <= c < start + 1 for c in calls) for start in calls) <= 11
