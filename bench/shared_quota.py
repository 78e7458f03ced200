"""One BatchMeterUsage quota, shared: a flush and 20 leaving buyers' final-usage steps sending at once against the
emulator's quota (10 calls/s, burst 10, 50-150 ms latency), each sender in its own thread with its own limiter, as
each runs in a Lambda of its own.

Workload: the flush seals and sends 2 closed hours of 1,000 customers x 2 dimensions (4,000 records, 160 calls); each
of 20 other customers, leaving, has usage in the open hour, which their final-usage step seals and sends early
(``functions.flush.customer.send_customer_usage``: one call each). Every sender starts at the same moment.

Two rounds, fresh tables and emulator each, in the same run: every sender pacing itself on the one schedule in the
metering table (``SharedTokenBucket`` over ``DynamoQuotaSlots``, what the Lambdas are wired with), and the reference,
the way before it: each sender its own token bucket at the full quota. Target for the shared schedule: 0 throttled
calls, and the calls of all senders together >= 0.9 of the quota while they send (from the first call to the last;
the run's whole time, with the reading and sealing before the first call, is printed beside it), with every record
billed once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from bench._local import dynamodb_client, licence_usage, use_loopback_credentials
from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from functions.flush.customer import send_customer_usage
from functions.flush.ledger import DynamoMeteringLedger
from functions.flush.quota import DynamoQuotaSlots
from functions.flush.records import BatchOutcome, MeteringGateway, MeteringRecord
from functions.flush.sender import RateLimiter, SharedTokenBucket, TokenBucket
from functions.flush.service import FlushDeps, flush
from functions.marketplace.metering import Boto3MeteringGateway
from functions.settings import Dimension, Product, Settings
from functions.usage.model import UsageEvent
from functions.usage.store import DynamoUsageStore
from local.dynamodb import dynamodb_endpoint as dynamodb_local
from local.marketplace.server import EmulatorServer
from local.marketplace.testing import EmulatorHandle, aws_client, fresh_world, start_emulator
from local.tables import FIXED_DATE_RETENTION, create_fresh_tables

FLUSH_CUSTOMERS = int(os.environ.get("BENCH_QUOTA_CUSTOMERS", "1000"))
LEAVING = 20
HOURS = 2
QUOTA_CALLS_PER_SECOND = 10
LATENCY_MS = [50, 150]
TARGET = 0.9
NOW = datetime(2026, 11, 26, 12, 10, tzinfo=UTC)  # 10:00 and 11:00 are closed; 12:00 is open
DIMENSIONS = ("api_calls", "storage_gb")
PRODUCT = Product(
    code="bench-quota-product",
    name="Bench",
    dimensions=(Dimension(name="api_calls"), Dimension(name="storage_gb", quantity_type="decimal")),
)


@dataclass
class _CallLog:
    """The gateway each sender calls through, noting when each call started (the emulator's own clock is set)."""

    inner: MeteringGateway
    started: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def batch_meter_usage(self, records: Sequence[MeteringRecord]) -> BatchOutcome:
        with self.lock:
            self.started.append(time.perf_counter())
        return self.inner.batch_meter_usage(records)


def _subscribe(marketplace: EmulatorHandle, count: int, offset: int) -> list[dict[str, Any]]:
    start = (NOW - timedelta(days=2)).isoformat().replace("+00:00", "Z")
    return [
        marketplace.admin.subscribe(PRODUCT.code, f"{300000000000 + offset + n}", start_time=start)
        for n in range(count)
    ]


def _events(subscriptions: list[dict[str, Any]], hours: Sequence[datetime], tag: str) -> list[UsageEvent]:
    events = []
    for n, sub in enumerate(subscriptions):
        for hour in hours:
            moment = hour + timedelta(minutes=n % 9)  # the open hour's events are before NOW (12:10)
            for dimension in DIMENSIONS:
                quantity = Decimal(1 + n % 97) if dimension == "api_calls" else Decimal(f"{n % 13}.25")
                event_id = f"{tag}-{n}-{hour:%H}-{dimension}"
                events.append(licence_usage(sub, PRODUCT.code, event_id, dimension, quantity, moment))
    return events


def _leaving(sub: dict[str, Any]) -> Customer:
    return Customer(
        ref=CustomerRef(PRODUCT.code, license_arn=sub["license_arn"]),
        customer_aws_account_id=sub["account_id"],
        state=SubscriptionState.ENDING,
        state_changed_at=NOW - timedelta(minutes=5),
    )


def _round(
    server: EmulatorServer, endpoint: str, limiter: Callable[[Settings, Any], RateLimiter], name: str
) -> dict[str, Any]:
    client = dynamodb_client(endpoint)
    settings = replace(
        create_fresh_tables(client, endpoint, "q", products=(PRODUCT,)),
        metering_calls_per_second=Decimal(QUOTA_CALLS_PER_SECOND),
    )
    marketplace = fresh_world(server)
    marketplace.admin.set_clock(NOW.isoformat().replace("+00:00", "Z"))
    marketplace.admin.put_config(quota_per_second=QUOTA_CALLS_PER_SECOND, quota_burst=QUOTA_CALLS_PER_SECOND)
    marketplace.admin.create_product(PRODUCT.code, list(DIMENSIONS), customer_mode="license")
    staying = _subscribe(marketplace, FLUSH_CUSTOMERS, 0)
    leaving = _subscribe(marketplace, LEAVING, FLUSH_CUSTOMERS)
    closed_hours = [NOW.replace(minute=0) - timedelta(hours=h) for h in range(HOURS, 0, -1)]
    events = _events(staying, closed_hours, "s") + _events(leaving, [NOW.replace(minute=0)], "l")
    store = DynamoUsageStore(client, settings.usage_table, shards=settings.usage_shards, retention=FIXED_DATE_RETENTION)
    for start in range(0, len(events), 100):
        store.add(events[start : start + 100])
    marketplace.admin.put_faults(latency_ms=LATENCY_MS, seed=1)
    log = _CallLog(Boto3MeteringGateway(aws_client("meteringmarketplace", marketplace.url, max_attempts=1)))

    def deps() -> FlushDeps:  # one sender's, as its own Lambda builds them
        return FlushDeps(
            settings=settings,
            usage=DynamoUsageStore(
                client, settings.usage_table, shards=settings.usage_shards, retention=FIXED_DATE_RETENTION
            ),
            ledger=DynamoMeteringLedger(client, settings.metering_table, retention=FIXED_DATE_RETENTION),
            customers=DynamoCustomerRepository(client, settings.customers_table),
            gateway=log,
            clock=ManualClock(NOW),
            limiter=limiter(settings, client),
        )

    failures: list[BaseException] = []

    def guarded(work: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as error:  # reported after the round
                failures.append(error)

        return run

    flush_deps = deps()
    senders = [threading.Thread(target=guarded(lambda: flush(flush_deps, remaining_ms=lambda: 900_000)))]
    for sub in leaving:
        final_usage = partial(send_customer_usage, _leaving(sub), deps(), out_of_time=lambda: False)
        senders.append(threading.Thread(target=guarded(final_usage)))
    started = time.perf_counter()
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    seconds = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{name}: a sender failed: {failures[0]!r}")
    calls = marketplace.admin.calls(operation="BatchMeterUsage")
    throttled = sum(c["error_code"] == "ThrottlingException" for c in calls)
    answered = len(calls) - throttled
    billed = len(marketplace.admin.ledger(product_code=PRODUCT.code))
    expected = (FLUSH_CUSTOMERS * HOURS + LEAVING) * len(DIMENSIONS)
    # while they send: n calls at the quota take (n - 1) intervals from the first to the last
    calling = max(log.started) - min(log.started)
    fraction = (answered - 1) / (calling * QUOTA_CALLS_PER_SECOND)
    figures = {
        "senders": len(senders),
        "seconds": round(seconds, 1),
        "calls": len(calls),
        "throttled_calls": throttled,
        "calls_answered": answered,
        "first_to_last_call_seconds": round(calling, 1),
        "fraction_of_quota": round(fraction, 3),
        "fraction_of_quota_over_the_run": round(answered / (seconds * QUOTA_CALLS_PER_SECOND), 3),
        "records_billed": billed,
        "records_expected": expected,
    }
    print(
        f"  {name}: {len(senders)} senders, {len(calls)} calls in {seconds:.1f} s, {throttled} throttled; "
        f"{answered} answered in {calling:.1f} s from the first call to the last = {fraction:.3f} of the quota "
        f"({figures['fraction_of_quota_over_the_run']:.3f} over the whole run, reading and sealing included); "
        f"{billed} of {expected} records billed"
    )
    return figures


def run() -> dict[str, Any]:
    use_loopback_credentials()
    server = start_emulator()
    try:
        with dynamodb_local() as endpoint:
            print(
                f"one quota shared (a flush and {LEAVING} final-usage steps at once; {QUOTA_CALLS_PER_SECOND} calls/s):"
            )
            shared = _round(
                server,
                endpoint,
                lambda s, c: SharedTokenBucket(
                    float(s.metering_calls_per_second), DynamoQuotaSlots(c, s.metering_table)
                ),
                "one schedule in the metering table",
            )
            separate = _round(
                server,
                endpoint,
                lambda s, _: TokenBucket(float(s.metering_calls_per_second)),
                "reference, each sender its own bucket at the full quota",
            )
    finally:
        server.stop()
    met = (
        shared["throttled_calls"] == 0
        and shared["fraction_of_quota"] >= TARGET
        and shared["records_billed"] == shared["records_expected"]
    )
    print(
        f"  target: 0 throttled, >= {TARGET} of the quota together, every record billed: {'ok' if met else 'NOT MET'}"
        f" (reference: {separate['throttled_calls']} throttled, {separate['fraction_of_quota']:.3f} of the quota)"
    )
    return {**shared, "target_fraction": TARGET, "met": met, "reference": separate}


if __name__ == "__main__":
    run()
