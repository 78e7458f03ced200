"""Ingest: events/s for batches of 100 events through the usage API handler into DynamoDB Local.

Each batch is a REST proxy event (``local.apigateway.proxy_event``) handed to ``functions.handlers.usage.handler``,
configured by its environment as in Lambda: validation, customer look-ups, one conditional put per event.
Reference, same run, same events: the AWS sample's way of recording usage, one unconditional PutItem per event,
one after another, with no validation and no duplicate check. Target: ours >= 1.2 x the reference, with validation,
dedup and customer checks kept; each batch's latency reported as p50 and p99.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from typing import Any

from bench._local import dynamodb_client, use_loopback_credentials
from bench._usage_api import PRODUCT, post_usage_event, usage_event, usage_handler
from bench._usage_api import add_customers as add_bench_customers
from local.dynamodb import dynamodb_endpoint as dynamodb_local
from local.tables import create_fresh_tables

BATCHES = int(os.environ.get("BENCH_INGEST_BATCHES", "50"))
BATCH_SIZE = 100
CUSTOMERS = 50
TARGET = 1.2


def _percentile(values: list[float], percent: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(percent / 100 * (len(ordered) - 1)))]


def run() -> dict[str, Any]:
    use_loopback_credentials()
    with dynamodb_local() as endpoint:
        client = dynamodb_client(endpoint)
        settings = create_fresh_tables(client, endpoint, "b", products=(PRODUCT,))
        add_bench_customers(client, settings, CUSTOMERS)
        now = datetime.now(UTC)
        batches = [
            [usage_event(f"b{b}-e{i}", (b * BATCH_SIZE + i) % CUSTOMERS, now) for i in range(BATCH_SIZE)]
            for b in range(BATCHES)
        ]
        with usage_handler(settings) as handler:
            handler(post_usage_event([usage_event("warm-up", 0, now)]))  # the first call builds clients
            latencies = []
            started = time.perf_counter()
            for batch in batches:
                sent = time.perf_counter()
                response = handler(post_usage_event(batch))
                latencies.append((time.perf_counter() - sent) * 1000)
                if response["statusCode"] != 200 or json.loads(response["body"])["accepted"] != BATCH_SIZE:
                    raise SystemExit(f"ingest refused a batch: {response['statusCode']} {response['body'][:300]}")
            seconds = time.perf_counter() - started

        reference_table = create_fresh_tables(client, endpoint, "b", products=(PRODUCT,)).usage_table
        started = time.perf_counter()
        for batch in batches:
            for event in batch:
                client.put_item(
                    TableName=reference_table,
                    Item={"pk": {"S": event["license_arn"]}, "sk": {"S": event["event_id"]}}
                    | {name: {"S": str(value)} for name, value in event.items() if name != "event_id"},
                )
        reference_seconds = time.perf_counter() - started
    events = BATCHES * BATCH_SIZE
    rate, reference_rate = events / seconds, events / reference_seconds
    p50, p99 = _percentile(latencies, 50), _percentile(latencies, 99)
    ratio = rate / reference_rate
    print(
        f"ingest: {events} events in batches of {BATCH_SIZE} through the usage handler: {rate:.0f} events/s "
        f"(per batch p50 {p50:.0f} ms, p99 {p99:.0f} ms); reference (one plain PutItem per event, sequential): "
        f"{reference_rate:.0f} events/s; ours / reference = {ratio:.2f} (target >= {TARGET}: "
        f"{'ok' if ratio >= TARGET else 'BELOW TARGET'})"
    )
    return {
        "events": events,
        "batch_size": BATCH_SIZE,
        "events_per_second": round(rate, 1),
        "ms_per_batch": round(seconds * 1000 / BATCHES, 1),
        "p50_ms_per_batch": round(p50, 1),
        "p99_ms_per_batch": round(p99, 1),
        "target_ratio": TARGET,
        "reference_events_per_second": round(reference_rate, 1),
        "ratio_to_reference": round(rate / reference_rate, 2),
    }


if __name__ == "__main__":
    run()
