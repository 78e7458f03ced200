"""Cost: DynamoDB requests and consumed capacity per usage event ingested and per record metered.

Every request of the client under test asks for ``ReturnConsumedCapacity=INDEXES`` (botocore's own event hooks,
``bench._local.CapacityMeter``) and the answers are summed per table and index. DynamoDB Local reports capacity as
DynamoDB does for these item sizes (1 write unit per KB written, per table and per index written).

Targets: at most 2 write units per ingested event (index writes included): an event is kept under its identity (customer
and id, so a resend in another hour counts once) and then where the flush reads it; flush bookkeeping of at most 1.5
write units per metered record (what DynamoDB bills: per KB of each item written, per table and index), reads reported
beside it. Reference, measured in the same run on the same records: the AWS sample's bookkeeping, which stores each
metering record with ``metering_pending`` and updates that item once it is sent.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from bench._local import CapacityMeter, dynamodb_client, use_loopback_credentials
from bench._usage_api import PRODUCT, add_customers, post_usage_event, usage_event, usage_handler
from bench.flush_throughput import NOW, flush_deps, subscribe_all, workload
from bench.flush_throughput import PRODUCT as FLUSH_PRODUCT
from functions.flush.service import flush
from functions.settings import get_settings
from functions.usage.model import UsageEvent
from functions.usage.store import DynamoUsageStore
from functions.wiring.aws_clients import dynamodb_client as app_dynamodb_client
from local.dynamodb import dynamodb_endpoint as dynamodb_local
from local.marketplace.testing import fresh_world, start_emulator
from local.tables import FIXED_DATE_RETENTION, create_fresh_tables

INGEST_EVENTS = 1000
FLUSH_CUSTOMERS = int(os.environ.get("BENCH_COST_CUSTOMERS", "200"))
TARGET_WCU_PER_EVENT = 2.0
TARGET_WCU_PER_RECORD = 1.5
SAMPLE_RECORDS = 500


def ingest_cost(endpoint: str) -> dict[str, Any]:
    client = dynamodb_client(endpoint)
    settings = create_fresh_tables(client, endpoint, "b", products=(PRODUCT,))
    add_customers(client, settings, 50)
    meter = CapacityMeter()
    now = datetime.now(UTC)
    # late: stamped in an hour that no longer takes usage, so billed in the next open one (one index write more)
    late = now - timedelta(hours=2)
    batches = {
        "on_time": [[usage_event(f"t{b}-{i}", (b + i) % 50, now) for i in range(100)] for b in range(10)],
        "late": [[usage_event(f"l{b}-{i}", (b + i) % 50, late) for i in range(100)] for b in range(2)],
    }
    results: dict[str, Any] = {}
    with usage_handler(settings) as handler:
        meter.attach(app_dynamodb_client(get_settings()))  # the very client the handler writes with
        for kind, kind_batches in [*batches.items(), ("duplicates", batches["on_time"][:2])]:
            meter.reset()
            for batch in kind_batches:
                assert handler(post_usage_event(batch))["statusCode"] == 200
            events = sum(len(b) for b in kind_batches)
            results[kind] = {
                "events": events,
                "write_units_per_event": round(meter.units_of(settings.usage_table, "write") / events, 3),
                "write_requests_per_event": round(meter.requests_of(settings.usage_table, "write") / events, 3),
                "read_units_per_event": round(meter.units_of(settings.customers_table, "read") / events, 3),
                "read_requests_per_event": round(meter.requests_of(settings.customers_table, "read") / events, 3),
            }
    return results


def flush_cost(endpoint: str) -> dict[str, Any]:
    client = dynamodb_client(endpoint)
    settings = create_fresh_tables(client, endpoint, "b", products=(FLUSH_PRODUCT,))
    server = start_emulator()
    try:
        marketplace = fresh_world(server)
        marketplace.admin.set_clock(NOW.isoformat().replace("+00:00", "Z"))
        events = workload(subscribe_all(marketplace, FLUSH_PRODUCT.code, FLUSH_CUSTOMERS), FLUSH_PRODUCT.code)
        DynamoUsageStore(
            client, settings.usage_table, shards=settings.usage_shards, retention=FIXED_DATE_RETENTION
        ).add(events)
        meter = CapacityMeter()
        meter.attach(client)
        report = flush(flush_deps(settings, client, marketplace), remaining_ms=lambda: 900_000)
    finally:
        server.stop()
    records = report.succeeded
    if records != len(events):
        raise SystemExit(f"the flush metered {records} of {len(events)} records")
    sample = sample_bookkeeping(endpoint, events[:SAMPLE_RECORDS])
    return {
        "records": records,
        "bookkeeping_write_requests_per_record": round(
            meter.requests_of(settings.metering_table, "write") / records, 3
        ),
        "bookkeeping_write_units_per_record": round(meter.units_of(settings.metering_table, "write") / records, 3),
        "bookkeeping_read_units_per_record": round(meter.units_of(settings.metering_table, "read") / records, 3),
        "usage_read_units_per_record": round(meter.units_of(settings.usage_table, "read") / records, 3),
        "usage_read_requests_per_record": round(meter.requests_of(settings.usage_table, "read") / records, 3),
        "reference": sample,
    }


def sample_bookkeeping(endpoint: str, events: list[UsageEvent]) -> dict[str, float]:
    """The AWS sample's table work per metering record: stored pending, then flagged sent after its call."""
    client = dynamodb_client(endpoint)
    table = create_fresh_tables(client, endpoint, "b", products=()).usage_table
    meter = CapacityMeter()
    meter.attach(client)
    for event in events:
        key = {"pk": {"S": event.customer_key}, "sk": {"S": f"{event.hour.isoformat()}#{event.dimension}"}}
        quantity = {"N": str(event.quantity)}
        client.put_item(TableName=table, Item={**key, "quantity": quantity, "metering_pending": {"S": "true"}})
        client.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET metering_pending = :sent, metering_response = :response",
            ExpressionAttributeValues={":sent": {"S": "false"}, ":response": {"S": "Success"}},
        )
    return {
        "write_requests_per_record": round(meter.requests_of(table, "write") / len(events), 3),
        "write_units_per_record": round(meter.units_of(table, "write") / len(events), 3),
    }


def run() -> dict[str, Any]:
    use_loopback_credentials()
    with dynamodb_local() as endpoint:
        ingest = ingest_cost(endpoint)
        metering = flush_cost(endpoint)
    on_time, late = ingest["on_time"], ingest["late"]
    wcu = on_time["write_units_per_event"]
    record_wcu = metering["bookkeeping_write_units_per_record"]
    sample_wcu = metering["reference"]["write_units_per_record"]
    print("cost (DynamoDB, ReturnConsumedCapacity=INDEXES):")
    for kind, figures in ingest.items():
        print(
            f"  ingest {kind:10s} {figures['write_units_per_event']:.3f} WCU/event "
            f"({figures['write_requests_per_event']:.3f} write requests), customer look-ups "
            f"{figures['read_units_per_event']:.3f} RCU/event ({figures['read_requests_per_event']:.3f} requests)"
        )
    print(
        f"  ingest target <= {TARGET_WCU_PER_EVENT} WCU per event: on time {wcu:.3f} "
        f"({'ok' if wcu <= TARGET_WCU_PER_EVENT else 'OVER'}), late {late['write_units_per_event']:.3f} "
        f"(its identity and the event; a late event also writes the sparse late index)"
    )
    print(
        "  (a duplicate's refused conditional put shows 0 WCU here: DynamoDB Local reports none; DynamoDB charges "
        "1 WCU for it)"
    )
    print(
        f"  flush of {metering['records']} records: {record_wcu:.3f} bookkeeping WCU per record (target <= "
        f"{TARGET_WCU_PER_RECORD}: {'ok' if record_wcu <= TARGET_WCU_PER_RECORD else 'OVER'}; the AWS sample's "
        f"{sample_wcu:.3f}, ours / sample = {record_wcu / sample_wcu:.3f}) in "
        f"{metering['bookkeeping_write_requests_per_record']:.3f} write requests; reads: "
        f"{metering['bookkeeping_read_units_per_record']:.3f} RCU of the metering table and "
        f"{metering['usage_read_units_per_record']:.3f} RCU of usage per record"
    )
    return {
        "ingest": ingest,
        "flush": metering,
        "targets": {"wcu_per_event": TARGET_WCU_PER_EVENT, "wcu_per_record": TARGET_WCU_PER_RECORD},
        "ratio_to_reference": round(record_wcu / sample_wcu, 3),
    }


if __name__ == "__main__":
    run()
