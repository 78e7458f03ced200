"""Cost: DynamoDB requests and consumed capacity per usage event ingested and per record metered.

Every request of the client under test asks for ``ReturnConsumedCapacity=INDEXES`` (botocore's own event hooks,
``bench._local.CapacityMeter``) and the answers are summed per table and index. DynamoDB Local reports capacity as
DynamoDB does for these item sizes (1 write unit per KB written, per table and per index written).

Targets: at most 2 write units per ingested event (index writes included): an event is kept under its identity (customer
and id, so a resend in another hour counts once) and then where the flush reads it; flush bookkeeping of at most 1.5
write units per metered record (what DynamoDB bills: per KB of each item written, per table and index), reads reported
beside it. Reference, measured in the same run on the same records: the AWS sample's bookkeeping
(aws-samples/aws-marketplace-serverless-saas-integration, ``template.yaml`` and ``src/metering-*.js``): its table
``AWSMarketplaceMeteringRecords`` (``customerIdentifier``, ``create_timestamp``) with the index
``PendingMeteringRecordsIndex`` on ``metering_pending`` (projecting ALL), a record put with ``metering_pending`` per
usage event, the hourly job's query of that index, and each record's update once its customer's call is answered
(``set metering_response = <the call's answer, JSON>, metering_failed = :mf remove metering_pending``).

Dollars: one million events in an hour from 1,000 buyers x 2 dimensions, each line priced (``bench/prices.py``) from
what this run measured (units, bytes stored and logged, the handler's and the flush's milliseconds), beside the same
workload done the sample's way (its record per event, one call per customer per hour). Storage is each item's bytes
for as long as it is kept: an event for the audit retention, its identity until the id may count again (its TTL, a
day and a half; DynamoDB deletes expired items without charge), the sample's records for the same retention (it
keeps them for ever). Target: ours at or below it.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench import prices
from bench._local import CapacityMeter, dynamodb_client, item_size, use_loopback_credentials
from bench._usage_api import PRODUCT, add_customers, post_usage_event, usage_event, usage_handler
from bench.flush_throughput import LATENCY_MS, NOW, flush_deps, sample_way, subscribe_all, workload
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
SAMPLE_CALLS_EVENTS = 400  # the sample's calls are timed for the customers of the first 400 events (40 customers)
_INDEXED_BY = ("gsi1pk",)  # the usage table's index (stacks/schema.py), projecting ALL attributes
# the sample's metering table, as its template.yaml defines it
SAMPLE_INDEX = "PendingMeteringRecordsIndex"
SAMPLE_TABLE: dict[str, Any] = {
    "AttributeDefinitions": [
        {"AttributeName": "customerIdentifier", "AttributeType": "S"},
        {"AttributeName": "create_timestamp", "AttributeType": "N"},
        {"AttributeName": "metering_pending", "AttributeType": "S"},
    ],
    "KeySchema": [
        {"AttributeName": "customerIdentifier", "KeyType": "HASH"},
        {"AttributeName": "create_timestamp", "KeyType": "RANGE"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": SAMPLE_INDEX,
            "KeySchema": [{"AttributeName": "metering_pending", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
    "BillingMode": "PAY_PER_REQUEST",
}

# The workload the dollars are for: one million usage events in an hour from 1,000 buyers, 2 dimensions each, sent in
# batches of 100; kept for the retention (settings.audit_retention_days). Marketplace bills 2,000 records.
MILLION = 1_000_000
BUYERS, DIMENSIONS = 1_000, 2
RECORDS = BUYERS * DIMENSIONS
BATCH = 100
RETENTION_MONTHS = 400 / 30.4
HOURS_A_MONTH = 30.4 * 24
USAGE_MEMORY_GB, FLUSH_MEMORY_GB = 0.5, 1.0  # stacks/constructs: lambda_code's default, the flush's own
SAMPLE_MEMORY_GB = 0.5  # the sample's hourly job, given the usage function's memory
# metric names the functions publish (add_metric in functions/), each a custom metric charged by the month (more:
# RecordsFailed is also published per reason)
METRICS_PUBLISHED = 28


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
    with usage_handler(settings) as handler, _logged() as logged:
        meter.attach(app_dynamodb_client(get_settings()))  # the very client the handler writes with
        for kind, kind_batches in [*batches.items(), ("duplicates", batches["on_time"][:2])]:
            meter.reset()
            logged.seek(0)
            logged.truncate()
            milliseconds = []
            for batch in kind_batches:
                started = time.perf_counter()
                assert handler(post_usage_event(batch))["statusCode"] == 200
                milliseconds.append((time.perf_counter() - started) * 1000)
            events = sum(len(b) for b in kind_batches)
            results[kind] = {
                "handler_ms_per_batch": round(statistics.median(milliseconds), 1),
                "log_bytes_per_batch": round(len(logged.getvalue().encode()) / len(kind_batches)),
                "events": events,
                "write_units_per_event": round(meter.units_of(settings.usage_table, "write") / events, 3),
                "write_requests_per_event": round(meter.requests_of(settings.usage_table, "write") / events, 3),
                "read_units_per_event": round(meter.units_of(settings.customers_table, "read") / events, 3),
                "read_requests_per_event": round(meter.requests_of(settings.customers_table, "read") / events, 3),
            }
    # what an on-time event leaves stored (the million are on time): its event item and its identity's
    on_time = sum(len(b) for b in batches["on_time"])
    identities = _stored(
        client, settings.usage_table, lambda item: _on_time(item) and item["pk"]["S"].startswith("ID#")
    )
    kept = _stored(client, settings.usage_table, lambda item: _on_time(item) and item["pk"]["S"].startswith("U#"))
    if identities.items != on_time or kept.items != on_time:
        raise SystemExit(f"{on_time} events on time, found {kept.items} stored and {identities.items} identities")
    results["stored_bytes_per_event"] = round(kept.bytes / on_time, 1)
    results["identity_bytes_per_event"] = round(identities.bytes / on_time, 1)
    results["identity_kept_hours"] = round(identities.kept_seconds / identities.items / 3600, 1)
    return results


def _on_time(item: dict[str, Any]) -> bool:
    return str(item["sk"]["S"]).startswith("t")  # the on-time batches' event ids (the identity's sort key is the id)


@dataclass(frozen=True)
class _Kept:
    items: int
    bytes: int  # what DynamoDB bills storage for
    kept_seconds: float  # summed: each item from when it was received to its TTL


def _stored(
    client: Any, table: str, chosen: Callable[[dict[str, Any]], bool], indexed: tuple[str, ...] = _INDEXED_BY
) -> _Kept:
    """The chosen items of ``table``: their size and 100 bytes of overhead each (the developer guide), and as much
    again for each index an item is projected into (every index projects ALL attributes)."""
    items = size = 0
    kept = 0.0
    for page in client.get_paginator("scan").paginate(TableName=table):
        for item in filter(chosen, page["Items"]):
            items += 1
            size += (1 + sum(key in item for key in indexed)) * (item_size(item) + 100)
            if "r" in item and "expires_at" in item:
                kept += int(item["expires_at"]["N"]) - datetime.fromisoformat(item["r"]["S"]).timestamp()
    return _Kept(items, size, kept)


@contextmanager
def _logged() -> Iterator[io.StringIO]:
    """What the handler writes to CloudWatch Logs as deployed: its INFO log lines and its EMF metrics document (the
    bench otherwise turns both off)."""
    from functions.observability import logger

    buffer = io.StringIO()
    handler = logger.registered_handler
    stream = handler.setStream(buffer)  # type: ignore[attr-defined]
    level = logger.log_level
    logger.setLevel("INFO")
    saved = os.environ.get("POWERTOOLS_METRICS_DISABLED")
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "false"
    try:
        with redirect_stdout(buffer):
            yield buffer
    finally:
        handler.setStream(stream)  # type: ignore[attr-defined]
        logger.setLevel(level)
        os.environ["POWERTOOLS_METRICS_DISABLED"] = saved or "true"


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
        marketplace.admin.put_faults(latency_ms=LATENCY_MS, seed=1)
        started = time.perf_counter()
        report = flush(flush_deps(settings, client, marketplace), remaining_ms=lambda: 900_000)
        flush_seconds = time.perf_counter() - started
        # the sample's hourly job: one call per customer, in turn (the same records again: answered as before)
        sample_events = [e for e in events if e.customer_key in {e.customer_key for e in events[:SAMPLE_CALLS_EVENTS]}]
        _, sample_seconds, _ = sample_way(marketplace, sample_events)
        sample_calls = len({e.customer_key for e in sample_events})
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
        "flush_seconds_per_record": round(flush_seconds / records, 5),
        "reference": sample | {"seconds_per_call": round(sample_seconds / sample_calls, 4)},
    }


def sample_bookkeeping(endpoint: str, events: list[UsageEvent]) -> dict[str, float]:
    """The AWS sample's table work per metering record, on its own table and index (``SAMPLE_TABLE``): each usage
    event a record put pending, the hourly job's query of the pending index, and each record updated with its
    customer's call's answer."""
    client = dynamodb_client(endpoint)
    table = f"sample-{uuid.uuid4().hex[:10]}"
    client.create_table(TableName=table, **SAMPLE_TABLE)
    meter = CapacityMeter()
    meter.attach(client)
    identifiers = {key: f"{n:011x}" for n, key in enumerate(dict.fromkeys(e.customer_key for e in events))}
    created: dict[str, list[int]] = {}
    for n, event in enumerate(events):  # src/metering-*.js: one record per usage event, written by the seller
        identifier = identifiers[event.customer_key]
        created.setdefault(identifier, []).append(1_750_000_000_000 + n)
        usage = {"M": {"dimension": {"S": event.dimension}, "value": {"N": str(event.quantity)}}}
        client.put_item(
            TableName=table,
            Item={
                "customerIdentifier": {"S": identifier},
                "create_timestamp": {"N": str(created[identifier][-1])},
                "dimension_usage": {"L": [usage]},
                "metering_pending": {"S": "true"},
            },
        )
    pages = client.get_paginator("query").paginate(  # metering-hourly-job.js
        TableName=table,
        IndexName=SAMPLE_INDEX,
        KeyConditionExpression="metering_pending = :b",
        ExpressionAttributeValues={":b": {"S": "true"}},
    )
    pending = [item for page in pages for item in page["Items"]]
    for identifier, stamps in created.items():  # metering-sqs.js: the call's answer on each of the customer's records
        answer = _sample_answer(identifier, [e for e in events if identifiers[e.customer_key] == identifier])
        for stamp in stamps:
            client.update_item(
                TableName=table,
                Key={"customerIdentifier": {"S": identifier}, "create_timestamp": {"N": str(stamp)}},
                UpdateExpression="set metering_response = :x, metering_failed = :mf remove metering_pending",
                ExpressionAttributeValues={":x": {"S": answer}, ":mf": {"BOOL": False}},
            )
    kept = _stored(client, table, lambda item: True, indexed=("metering_pending",))
    return {
        "pending_read": len(pending),
        "write_requests_per_record": round(meter.requests_of(table, "write") / len(events), 3),
        "write_units_per_record": round(meter.units_of(table, "write") / len(events), 3),
        "read_units_per_record": round(meter.units_of(table, "read") / len(events), 4),
        "stored_bytes_per_record": round(kept.bytes / len(events), 1),
    }


def _sample_answer(identifier: str, events: list[UsageEvent]) -> str:
    """BatchMeterUsage's answer to the sample's call for one customer (its dimensions summed, stamped when sent), as
    ``JSON.stringify`` writes it: what it stores on each of the customer's records."""
    totals: dict[str, Decimal] = {}
    for event in events:
        totals[event.dimension] = totals.get(event.dimension, Decimal(0)) + event.quantity
    results = [
        {
            "UsageRecord": {
                "Timestamp": "2026-11-26T12:00:07.123Z",
                "CustomerIdentifier": identifier,
                "Dimension": dimension,
                "Quantity": int(total),
            },
            "MeteringRecordId": str(uuid.uuid4()),
            "Status": "Success",
        }
        for dimension, total in totals.items()
    ]
    return json.dumps({"Results": results, "UnprocessedRecords": []}, separators=(",", ":"))


def dollars(ingest: dict[str, Any], metering: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each line's cost of the workload, ours and the AWS sample's way, from the units measured in this run."""
    on_time, reference = ingest["on_time"], metering["reference"]
    batches = MILLION / BATCH
    gb_seconds = prices.LAMBDA_ARM_PER_GB_SECOND
    per_write, per_read = (
        prices.DYNAMODB_PER_MILLION_WRITE_UNITS / MILLION,
        prices.DYNAMODB_PER_MILLION_READ_UNITS / MILLION,
    )
    ours = {
        "API Gateway requests": batches * prices.API_GATEWAY_REST_PER_MILLION_REQUESTS / MILLION,
        "Lambda requests and GB-seconds": (batches + 1) * prices.LAMBDA_PER_MILLION_REQUESTS / MILLION
        + batches * on_time["handler_ms_per_batch"] / 1000 * USAGE_MEMORY_GB * gb_seconds
        + RECORDS * metering["flush_seconds_per_record"] * FLUSH_MEMORY_GB * gb_seconds,
        "DynamoDB write units": (
            MILLION * on_time["write_units_per_event"] + RECORDS * metering["bookkeeping_write_units_per_record"]
        )
        * per_write,
        "DynamoDB read units": (
            MILLION * (on_time["read_units_per_event"] + metering["usage_read_units_per_record"])
            + RECORDS * metering["bookkeeping_read_units_per_record"]
        )
        * per_read,
        "DynamoDB storage for the retention": MILLION
        * (
            ingest["stored_bytes_per_event"] * RETENTION_MONTHS
            + ingest["identity_bytes_per_event"] * ingest["identity_kept_hours"] / HOURS_A_MONTH
        )
        / 2**30
        * prices.DYNAMODB_PER_GB_MONTH,
        "EventBridge": 0.0,  # no PutEvents per usage event; the hourly schedule's events are AWS's, not charged
        "CloudWatch logs and metrics": batches * on_time["log_bytes_per_batch"] / 2**30 * prices.CLOUDWATCH_LOGS_PER_GB,
    }
    sample = {
        "API Gateway requests": 0.0,  # its producers write to DynamoDB themselves
        "Lambda requests and GB-seconds": prices.LAMBDA_PER_MILLION_REQUESTS / MILLION
        + BUYERS * reference["seconds_per_call"] * SAMPLE_MEMORY_GB * gb_seconds,
        "DynamoDB write units": MILLION * reference["write_units_per_record"] * per_write,
        "DynamoDB read units": MILLION * reference["read_units_per_record"] * per_read,
        "DynamoDB storage for the retention": MILLION
        * reference["stored_bytes_per_record"]
        / 2**30
        * RETENTION_MONTHS
        * prices.DYNAMODB_PER_GB_MONTH,
        "EventBridge": 0.0,
        "CloudWatch logs and metrics": 0.0,  # not measured for the sample: flatters it
    }
    return {"ours": ours, "sample": sample}


def _print_dollars(lines: dict[str, dict[str, float]]) -> None:
    print(
        f"  per million events ({BUYERS:,} buyers x {DIMENSIONS} dimensions in an hour, batches of {BATCH}), "
        f"{prices.REGION} on-demand, prices of {prices.PRICES_AS_OF} (bench/prices.py):"
    )
    for line in lines["ours"]:
        ours, sample = lines["ours"][line], lines["sample"][line]
        cheaper = "same" if abs(ours - sample) < 0.0005 else ("ours" if ours < sample else "sample")
        print(f"    {line:36s} ours ${ours:8.3f}   sample ${sample:8.3f}   cheaper: {cheaper}")
    total, sample_total = sum(lines["ours"].values()), sum(lines["sample"].values())
    print(
        f"    {'total':36s} ours ${total:8.3f}   sample ${sample_total:8.3f}   ours / sample = "
        f"{total / sample_total:.2f}; plus {METRICS_PUBLISHED} custom metrics at "
        f"${prices.CLOUDWATCH_PER_METRIC_MONTH:.2f} a month whatever the volume"
    )


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
    for kind, figures in ((k, v) for k, v in ingest.items() if isinstance(v, dict)):
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
    print(
        f"  stored per on-time event: its event {ingest['stored_bytes_per_event']:.0f} bytes for the retention, its "
        f"identity {ingest['identity_bytes_per_event']:.0f} bytes for {ingest['identity_kept_hours']:.1f} h (its TTL); "
        f"the sample's record {metering['reference']['stored_bytes_per_record']:.0f} bytes once sent (DynamoDB's 100 "
        f"bytes of overhead in each)"
    )
    print(
        f"  the sample's bookkeeping (its index of pending records included): "
        f"{metering['reference']['write_units_per_record']:.3f} WCU per record in "
        f"{metering['reference']['write_requests_per_record']:.3f} requests"
    )
    lines = dollars(ingest, metering)
    _print_dollars(lines)
    return {
        "dollars_per_million_events": {side: {k: round(v, 4) for k, v in by.items()} for side, by in lines.items()},
        "ingest": ingest,
        "flush": metering,
        "targets": {"wcu_per_event": TARGET_WCU_PER_EVENT, "wcu_per_record": TARGET_WCU_PER_RECORD},
        "ratio_to_reference": round(record_wcu / sample_wcu, 3),
    }


if __name__ == "__main__":
    run()
