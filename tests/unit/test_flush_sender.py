"""Sender with an in-memory fake of our MeteringGateway: bisection, retries of identical records, the rate limit."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from functions.flush.records import MeteringRecord
from functions.flush.sender import Backoff, Sender, SendTally, TokenBucket
from tests.fakes import FakeMarketplace

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
