"""Sealing one hour as its events grow: time and peak memory of ``functions.flush.service.hour_records`` (read the
hour's events from DynamoDB Local, total them per customer and dimension, spill what is over one record's maximum)
for N = 10k, 50k and 200k events (``BENCH_SCALE`` multiplies N: 0.1 for a quick run).

Targets: peak memory flat in N (it grows with customers x dimensions, not with events); time linear in N. The same
200 customers x 2 dimensions in every round, so the records are the same 400 whatever N; the reference figure of
each round is the first round's per-event time, so "linear" reads as a ratio near 1.0.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench._local import dynamodb_client, use_loopback_credentials
from functions.clock import ManualClock
from functions.customers.repository import DynamoCustomerRepository
from functions.flush.ledger import DynamoMeteringLedger
from functions.flush.service import FlushDeps, hour_records
from functions.marketplace.metering import Boto3MeteringGateway
from functions.settings import Dimension, Product
from functions.usage.model import UsageEvent, shard_of
from functions.usage.store import DynamoUsageStore, _to_item
from local.dynamodb import dynamodb_endpoint as dynamodb_local
from local.tables import FIXED_DATE_RETENTION, create_fresh_tables

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
SIZES = [int(n * SCALE) for n in (10_000, 50_000, 200_000)]
CUSTOMERS = 200
# what "flat" and "linear" allow: a round's peak memory and per-event time within these of the first round's
FLAT_MEMORY = 1.1
LINEAR_TIME = 1.25
HOUR = datetime(2026, 11, 26, 9, tzinfo=UTC)
PRODUCT = Product(
    code="seal-product",
    name="Seal",
    dimensions=(Dimension(name="api_calls"), Dimension(name="storage_gb", quantity_type="decimal")),
)
SHARDS = 16


def _event(n: int) -> UsageEvent:
    customer = n % CUSTOMERS
    integer = (n // CUSTOMERS) % 2 == 0
    licence = f"arn:aws:license-manager::294406891311:license:l-{customer:032x}"
    return UsageEvent(
        event_id=f"e{n}",
        product_code=PRODUCT.code,
        customer_key=f"LICENSE#{licence}",
        customer_aws_account_id=f"{300000000000 + customer}",
        dimension="api_calls" if integer else "storage_gb",
        quantity=Decimal(1 + n % 50) if integer else Decimal(f"{n % 7}.5"),
        timestamp=HOUR + timedelta(seconds=n % 3600),
        received_at=HOUR + timedelta(seconds=n % 3600),
        license_arn=licence,
    )


def _seed(client: Any, table: str, count: int) -> None:
    """Events written as the usage store writes them (same items), in bulk: the seeding is not what is measured."""
    expires = int((HOUR + timedelta(days=2)).timestamp())
    items = [_to_item(e, shard_of(e.event_id, SHARDS), expires) for e in map(_event, range(count))]

    def write(start: int) -> None:
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        while requests:
            answer = client.batch_write_item(RequestItems={table: requests})
            requests = answer.get("UnprocessedItems", {}).get(table, [])

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(0, len(items), 25)))


def run() -> dict[str, Any]:
    use_loopback_credentials()
    rounds: list[dict[str, Any]] = []
    with dynamodb_local() as endpoint:
        client = dynamodb_client(endpoint)
        for count in SIZES:
            settings = create_fresh_tables(client, endpoint, "s", products=(PRODUCT,), usage_shards=SHARDS)
            _seed(client, settings.usage_table, count)
            deps = FlushDeps(
                settings=settings,
                usage=DynamoUsageStore(client, settings.usage_table, shards=SHARDS, retention=FIXED_DATE_RETENTION),
                ledger=DynamoMeteringLedger(client, settings.metering_table, retention=FIXED_DATE_RETENTION),
                customers=DynamoCustomerRepository(client, settings.customers_table),
                gateway=Boto3MeteringGateway(None),  # sealing sends nothing
                clock=ManualClock(HOUR + timedelta(hours=1, minutes=10)),
            )
            tracemalloc.start()
            started = time.perf_counter()
            records, carry = hour_records(deps, HOUR)
            seconds = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            total = sum(r.events for r in records)
            if total != count or carry:
                raise SystemExit(f"sealing {count} events totalled {total} events in {len(records)} records")
            rounds.append(
                {
                    "events": count,
                    "records": len(records),
                    "seconds": round(seconds, 3),
                    "microseconds_per_event": round(seconds * 1e6 / count, 2),
                    "peak_memory_kib": round(peak / 1024, 1),
                }
            )
    first = rounds[0]
    for current in rounds:
        current["time_per_event_ratio_to_first"] = round(
            current["microseconds_per_event"] / first["microseconds_per_event"], 2
        )
        current["peak_memory_ratio_to_first"] = round(current["peak_memory_kib"] / first["peak_memory_kib"], 2)
        print(
            f"seal_scale: {current['events']} events -> {current['records']} records in {current['seconds']} s "
            f"({current['microseconds_per_event']} us/event, x{current['time_per_event_ratio_to_first']} of the "
            f"first round's); peak memory {current['peak_memory_kib']} KiB "
            f"(x{current['peak_memory_ratio_to_first']} of the first round's)"
        )
    flat = all(r["peak_memory_ratio_to_first"] <= FLAT_MEMORY for r in rounds)
    linear = all(r["time_per_event_ratio_to_first"] <= LINEAR_TIME for r in rounds)
    print(
        f"seal_scale: memory flat in N (each round <= x{FLAT_MEMORY} of the first): {'ok' if flat else 'NOT MET'}; "
        f"time linear in N (per event <= x{LINEAR_TIME} of the first): {'ok' if linear else 'NOT MET'}"
    )
    return {
        "customers": CUSTOMERS,
        "dimensions": 2,
        "rounds": rounds,
        "targets": {"peak_memory_ratio_to_first": FLAT_MEMORY, "time_per_event_ratio_to_first": LINEAR_TIME},
    }


if __name__ == "__main__":
    run()
