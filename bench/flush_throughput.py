"""Flush throughput against the emulator at the default quota (10 BatchMeterUsage calls/s) and at a raised one (40
calls/s: AWS raises the quota on request), with 50-150 ms latency.

Workload: 2,000 customers x 2 dimensions x 5 closed hours = 20,000 records, seeded as usage events straight
through the usage store into DynamoDB Local; the timed part is one ``flush()`` (sealing every closed hour, sending,
storing each result). Target: records/s >= 0.9 x the quota's ceiling (calls/s x 25 records: 250 and 1,000 records/s).

Reference, same run and same per-customer workload: the AWS sample's way, one BatchMeterUsage call per customer
holding that customer's records, one after another. Only its Marketplace calls are timed (its own table updates
are left out, which flatters it), on the first ``REFERENCE_CUSTOMERS`` customers so the bench stays short:
records/s does not depend on how many customers are in the queue when the calls are sequential.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench._local import dynamodb_client, licence_usage, use_loopback_credentials
from functions.clock import ManualClock
from functions.customers.repository import DynamoCustomerRepository
from functions.flush.calls import MAX_RECORDS_PER_CALL
from functions.flush.ledger import DynamoMeteringLedger
from functions.flush.service import FlushDeps, FlushReport, flush
from functions.marketplace.metering import Boto3MeteringGateway
from functions.settings import Dimension, Product, Settings
from functions.usage.model import UsageEvent
from functions.usage.store import DynamoUsageStore
from local.dynamodb import dynamodb_endpoint as dynamodb_local
from local.marketplace.server import EmulatorServer
from local.marketplace.testing import EmulatorHandle, aws_client, fresh_world, start_emulator
from local.tables import FIXED_DATE_RETENTION, create_fresh_tables

CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", "2000"))
HOURS = 5
DIMENSIONS = ("api_calls", "storage_gb")
REFERENCE_CUSTOMERS = int(os.environ.get("BENCH_REFERENCE_CUSTOMERS", "400"))
LATENCY_MS = [50, 150]
QUOTA_CALLS_PER_SECOND = 10  # 250 records/s
RAISED_QUOTA_CALLS_PER_SECOND = 40  # 1,000 records/s: a quota AWS raised on request
TARGET = 0.9
NOW = datetime(2026, 11, 26, 12, 10, tzinfo=UTC)  # the hours 07:00..11:00 are closed (grace 5 minutes)
FIRST_HOUR = NOW.replace(minute=0) - timedelta(hours=HOURS)
PRODUCT = Product(
    code="bench-product",
    name="Bench",
    dimensions=(Dimension(name="api_calls"), Dimension(name="storage_gb", quantity_type="decimal")),
)
SAMPLE_PRODUCT_CODE = "bench-sample-product"


def subscribe_all(marketplace: EmulatorHandle, product_code: str, count: int) -> list[dict[str, Any]]:
    marketplace.admin.create_product(product_code, list(DIMENSIONS), customer_mode="license")
    start = (FIRST_HOUR - timedelta(days=1)).isoformat().replace("+00:00", "Z")

    def subscribe(n: int) -> dict[str, Any]:
        return marketplace.admin.subscribe(product_code, f"{200000000000 + n}", start_time=start)

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(subscribe, range(count)))


def workload(subscriptions: list[dict[str, Any]], product_code: str) -> list[UsageEvent]:
    """One event per (customer, dimension, hour): each becomes one record."""
    events = []
    for n, sub in enumerate(subscriptions):
        for h in range(HOURS):
            moment = FIRST_HOUR + timedelta(hours=h, minutes=(n * 7 + h) % 60)
            for dimension in DIMENSIONS:
                quantity = Decimal(1 + (n + h) % 97) if dimension == "api_calls" else Decimal(f"{(n + h) % 13}.25")
                events.append(licence_usage(sub, product_code, f"{n}-{h}-{dimension}", dimension, quantity, moment))
    return events


def seed(store: DynamoUsageStore, events: list[UsageEvent]) -> None:
    chunks = [events[i : i + 100] for i in range(0, len(events), 100)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        stored = [n for added in pool.map(store.add, chunks) for n in added]
    if not all(stored):
        raise SystemExit("seeding found events already stored: the tables were not fresh")


def flush_deps(settings: Settings, client: Any, marketplace: EmulatorHandle) -> FlushDeps:
    retention = FIXED_DATE_RETENTION
    return FlushDeps(
        settings=settings,
        usage=DynamoUsageStore(client, settings.usage_table, shards=settings.usage_shards, retention=retention),
        ledger=DynamoMeteringLedger(client, settings.metering_table, retention=retention),
        customers=DynamoCustomerRepository(client, settings.customers_table),
        gateway=Boto3MeteringGateway(aws_client("meteringmarketplace", marketplace.url, max_attempts=1)),
        clock=ManualClock(NOW),
    )


def sample_way(marketplace: EmulatorHandle, events: list[UsageEvent]) -> tuple[int, float, Counter[str]]:
    """The AWS sample's metering: one BatchMeterUsage call per customer, sequential; records, seconds, statuses."""
    client = aws_client("meteringmarketplace", marketplace.url, max_attempts=1)
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        record: dict[str, Any] = {
            "Timestamp": event.hour,
            "Dimension": event.dimension,
            "CustomerAWSAccountId": event.customer_aws_account_id,
            "LicenseArn": event.license_arn,
        }
        if event.dimension == "api_calls":
            record["Quantity"] = int(event.quantity)
        else:
            record["QuantityAsDecimal"] = str(event.quantity)
        by_customer.setdefault(event.customer_key, []).append(record)
    statuses: Counter[str] = Counter()
    start = time.perf_counter()
    for records in by_customer.values():
        try:
            response = client.batch_meter_usage(UsageRecords=records)
        except client.exceptions.ClientError as error:  # the sample flags them failed and moves on
            statuses[error.response["Error"]["Code"]] += len(records)
            continue
        statuses.update(r["Status"] for r in response["Results"])
        statuses["Unprocessed"] += len(response["UnprocessedRecords"])
    return sum(len(r) for r in by_customer.values()), time.perf_counter() - start, statuses


def measure(
    server: EmulatorServer, endpoint: str, calls_per_second: int, sample: bool
) -> tuple[dict[str, Any], float, FlushReport]:
    """One flush of the workload at ``calls_per_second`` (our rate limit and the emulator's quota alike)."""
    client = dynamodb_client(endpoint)
    settings = replace(
        create_fresh_tables(client, endpoint, "b", products=(PRODUCT,)),
        metering_calls_per_second=Decimal(calls_per_second),
    )
    marketplace = fresh_world(server)
    marketplace.admin.set_clock(NOW.isoformat().replace("+00:00", "Z"))
    marketplace.admin.put_config(quota_per_second=calls_per_second, quota_burst=calls_per_second)
    subscriptions = subscribe_all(marketplace, PRODUCT.code, CUSTOMERS)
    events = workload(subscriptions, PRODUCT.code)
    started = time.perf_counter()
    seed(
        DynamoUsageStore(client, settings.usage_table, shards=settings.usage_shards, retention=FIXED_DATE_RETENTION),
        events,
    )
    print(f"  {len(events)} records over {CUSTOMERS} customers seeded in {time.perf_counter() - started:.1f} s")
    marketplace.admin.put_faults(latency_ms=LATENCY_MS, seed=1)
    started = time.perf_counter()
    report = flush(flush_deps(settings, client, marketplace), remaining_ms=lambda: 900_000)
    seconds = time.perf_counter() - started
    calls = marketplace.admin.calls(operation="BatchMeterUsage")
    billed = len(marketplace.admin.ledger(product_code=PRODUCT.code))
    throttled = sum(c["error_code"] == "ThrottlingException" for c in calls)
    rate = report.succeeded / seconds
    ceiling = calls_per_second * MAX_RECORDS_PER_CALL
    figures = {
        "calls_per_second": calls_per_second,
        "records": len(events),
        "customers": CUSTOMERS,
        "flush_seconds": round(seconds, 1),
        "records_per_second": round(rate, 1),
        "ceiling_records_per_second": ceiling,
        "fraction_of_quota_ceiling": round(rate / ceiling, 3),
        "target_fraction": TARGET,
        "calls": len(calls),
        "throttled_calls": throttled,
        "succeeded": report.succeeded,
        "billed_in_emulator": billed,
        "left_pending": report.left_pending,
    }
    ok = rate / ceiling >= TARGET and billed == len(events) and throttled == 0
    print(
        f"  quota {calls_per_second} calls/s: {report.succeeded} records in {seconds:.1f} s = {rate:.1f} records/s = "
        f"{rate / ceiling:.3f} of the {ceiling} records/s ceiling (target >= {TARGET}: "
        f"{'ok' if ok else 'BELOW TARGET'}); {len(calls)} calls, {throttled} throttled, {billed} billed"
    )
    sample_rate = 0.0
    if sample:
        sample_subs = subscribe_all(marketplace, SAMPLE_PRODUCT_CODE, min(REFERENCE_CUSTOMERS, CUSTOMERS))
        sample_records, sample_seconds, sample_statuses = sample_way(
            marketplace, workload(sample_subs, SAMPLE_PRODUCT_CODE)
        )
        sample_rate = sample_records / sample_seconds
        figures |= {
            "reference_customers": len(sample_subs),
            "reference_records_per_second": round(sample_rate, 1),
            "reference_statuses": dict(sample_statuses),
            "ratio_to_reference": round(rate / sample_rate, 2),
        }
        print(
            f"  reference (one call per customer, sequential; {len(sample_subs)} customers): {sample_rate:.1f} "
            f"records/s {dict(sample_statuses)}; ours / reference = {rate / sample_rate:.2f}"
        )
    return figures, rate, report


def run() -> dict[str, Any]:
    use_loopback_credentials()
    server = start_emulator()
    try:
        with dynamodb_local() as endpoint:
            print("flush throughput (emulator latency 50-150 ms):")
            default, _, _ = measure(server, endpoint, QUOTA_CALLS_PER_SECOND, sample=True)
            raised, _, _ = measure(server, endpoint, RAISED_QUOTA_CALLS_PER_SECOND, sample=False)
    finally:
        server.stop()
    return {**default, "raised_quota": raised}


if __name__ == "__main__":
    run()
