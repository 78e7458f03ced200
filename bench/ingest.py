"""Ingest: events/s for batches of 100 events through the usage API handler into DynamoDB Local, with no added latency
and with 8 ms added to every DynamoDB request (a typical in-Region write as the client sees it; ``bench._latency``).

Each batch is a REST proxy event (``local.apigateway.proxy_event``) handed to ``functions.handlers.usage.handler``,
configured by its environment as in Lambda: validation, the batch's customers read together, each event's identity
claimed (it counts once per customer and id, across hours) and then the event stored, all or nothing.

Reference, same run, same latency layer, same events: the AWS sample's way of recording usage, one unconditional
PutItem per event, one after another, with no validation and no duplicate check. Rounds alternate ours and the
reference, so a busy moment of a shared machine weighs on both; each figure is the median of the per-round ratios.
Target at 8 ms: ours >= 5 x the reference, and each batch answered within 1 s at the 99th percentile (API Gateway
and producers time out); at 0 ms (where the client's and DynamoDB Local's CPU, not the network, are the cost) the
ratio is reported beside it.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from bench._latency import Latency
from bench._local import dynamodb_client, use_loopback_credentials
from bench._usage_api import PRODUCT, post_usage_event, usage_event, usage_handler
from bench._usage_api import add_customers as add_bench_customers
from functions.settings import get_settings
from functions.wiring.aws_clients import dynamodb_client as app_dynamodb_client
from local.dynamodb import dynamodb_endpoint as dynamodb_local
from local.tables import create_fresh_tables

LATENCIES_MS = (0, 8)
TARGET_LATENCY_MS = 8
ROUNDS = int(os.environ.get("BENCH_INGEST_ROUNDS", "5"))
BATCHES = int(os.environ.get("BENCH_INGEST_BATCHES", "10"))  # per round
BATCH_SIZE = 100
REFERENCE_EVENTS = int(os.environ.get("BENCH_INGEST_REFERENCE_EVENTS", "300"))  # per round
CUSTOMERS = 50
TARGET = 5.0
TARGET_P99_MS = 1000.0


def _percentile(values: list[float], percent: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(percent / 100 * (len(ordered) - 1)))]


class _Run:
    def __init__(self, handler: Any, client: Any, reference_table: str) -> None:
        self.handler = handler
        self.client = client
        self.reference_table = reference_table
        self.now = datetime.now(UTC)
        self.rounds = 0

    def ours(self) -> tuple[float, list[float], list[list[dict[str, Any]]]]:
        """One round of batches through the handler: events/s, each batch's milliseconds, the batches."""
        self.rounds += 1
        batches = [
            [usage_event(f"r{self.rounds}-b{b}-e{i}", (b * BATCH_SIZE + i) % CUSTOMERS, self.now) for i in range(100)]
            for b in range(BATCHES)
        ]
        latencies = []
        started = time.perf_counter()
        for batch in batches:
            sent = time.perf_counter()
            response = self.handler(post_usage_event(batch))
            latencies.append((time.perf_counter() - sent) * 1000)
            if response["statusCode"] != 200 or json.loads(response["body"])["accepted"] != BATCH_SIZE:
                raise SystemExit(f"ingest refused a batch: {response['statusCode']} {response['body'][:300]}")
        return BATCHES * BATCH_SIZE / (time.perf_counter() - started), latencies, batches

    def reference(self, events: list[dict[str, Any]]) -> float:
        """The AWS sample's way with the same events: one plain PutItem each, in turn; events/s."""
        started = time.perf_counter()
        for event in events:
            self.client.put_item(
                TableName=self.reference_table,
                Item={"pk": {"S": event["license_arn"]}, "sk": {"S": event["event_id"]}}
                | {name: {"S": str(value)} for name, value in event.items() if name != "event_id"},
            )
        return len(events) / (time.perf_counter() - started)


def measure(run: _Run, latency: Latency, milliseconds: int) -> dict[str, Any]:
    latency.seconds = milliseconds / 1000
    ratios, rates, reference_rates, latencies = [], [], [], []
    for _ in range(ROUNDS):
        rate, batch_ms, batches = run.ours()
        reference_rate = run.reference([e for batch in batches for e in batch][:REFERENCE_EVENTS])
        ratios.append(rate / reference_rate)
        rates.append(rate)
        reference_rates.append(reference_rate)
        latencies.extend(batch_ms)
    ratio = statistics.median(ratios)
    p50, p99 = _percentile(latencies, 50), _percentile(latencies, 99)
    figures: dict[str, Any] = {
        "latency_ms": milliseconds,
        "rounds": ROUNDS,
        "events_per_round": BATCHES * BATCH_SIZE,
        "events_per_second": round(statistics.median(rates), 1),
        "reference_events_per_second": round(statistics.median(reference_rates), 1),
        "ratio_to_reference": round(ratio, 2),
        "ratios_per_round": [round(r, 2) for r in ratios],
        "p50_ms_per_batch": round(p50, 1),
        "p99_ms_per_batch": round(p99, 1),
    }
    verdict = ""
    if milliseconds == TARGET_LATENCY_MS:
        met = ratio >= TARGET and p99 < TARGET_P99_MS
        figures |= {"target_ratio": TARGET, "target_p99_ms": TARGET_P99_MS, "met": met}
        verdict = f" (target >= {TARGET}x and p99 < {TARGET_P99_MS:.0f} ms: {'ok' if met else 'NOT MET'})"
    print(
        f"  +{milliseconds} ms per request: {figures['events_per_second']:.0f} events/s in batches of {BATCH_SIZE} "
        f"(per batch p50 {p50:.0f} ms, p99 {p99:.0f} ms); reference (one plain PutItem per event, in turn): "
        f"{figures['reference_events_per_second']:.0f} events/s; ours / reference = {ratio:.2f} "
        f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)}){verdict}"
    )
    return figures


def run() -> dict[str, Any]:
    use_loopback_credentials()
    latency = Latency()
    with dynamodb_local() as endpoint:
        client = latency.attach(dynamodb_client(endpoint))
        settings = create_fresh_tables(client, endpoint, "b", products=(PRODUCT,))
        add_bench_customers(client, settings, CUSTOMERS)
        reference_table = create_fresh_tables(client, endpoint, "b", products=(PRODUCT,)).usage_table
        with usage_handler(settings) as handler:
            latency.attach(app_dynamodb_client(get_settings()))  # the very client the handler writes with
            run = _Run(handler, client, reference_table)
            handler(post_usage_event([usage_event("warm-up", 0, run.now)]))  # the first call builds clients
            # DynamoDB Local's JIT warms on the first thousands of writes: a round of each, not counted
            run.reference([e for batch in run.ours()[2] for e in batch])
            print(f"ingest ({ROUNDS} rounds of {BATCHES} batches of {BATCH_SIZE}, alternating with the reference):")
            by_latency = {f"{ms}ms": measure(run, latency, ms) for ms in LATENCIES_MS}
    return {"batch_size": BATCH_SIZE, **by_latency}


if __name__ == "__main__":
    run()
