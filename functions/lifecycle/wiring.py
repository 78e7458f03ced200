"""The lifecycle's real collaborators, built on first use from settings (nothing at import time)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from functions.aws_clients import dynamodb_client, entitlement_client, events_client, sqs_client
from functions.clock import Clock, app_clock
from functions.customers.model import CustomerRef
from functions.customers.repository import DynamoCustomerRepository
from functions.flush.service import FlushDeps
from functions.flush.wiring import flush_deps
from functions.lifecycle.entitlements import Boto3EntitlementReader
from functions.lifecycle.final_usage import (
    FinalUsageReport,
    SqsFinalUsageScheduler,
    requested_final_usage,
    run_final_usage,
)
from functions.lifecycle.notifications import parse_notification
from functions.lifecycle.service import FinalUsageScheduler, Lifecycle
from functions.lifecycle.store import DynamoLifecycleStore
from functions.observability import logger
from functions.registration.events import EventBridgePublisher, EventPublisher, RecordingPublisher
from functions.settings import Settings

# Duplicates of a notification arrive within minutes; a message lives at most 4 days in the queue.
IDEMPOTENCY_SECONDS = 4 * 24 * 3600


class InlineFinalUsage:
    """No queue (the local stack, tests): the final-usage step runs at once, in the same invocation."""

    def __init__(self, run: Callable[[CustomerRef], FinalUsageReport]) -> None:
        self._run = run

    def schedule(self, ref: CustomerRef) -> None:
        self._run(ref)


@dataclass
class LifecycleWorker:
    lifecycle: Lifecycle
    customers: DynamoCustomerRepository
    flush: FlushDeps
    idempotency: IdempotencyConfig
    run_once: Callable[..., dict[str, Any]]  # run_once(request=...) runs ``handle`` once per event id

    def process(self, body: str, *, out_of_time: Callable[[], bool]) -> str:
        """One SQS message: a lifecycle notification (once per event id) or our own final-usage step."""
        ref = requested_final_usage(body)
        if ref is not None:
            report = run_final_usage(ref, self.customers, self.flush, out_of_time=out_of_time)
            logger.info("final usage sent", customer=ref.key, records=report.records, failed=report.failed)
            return "final_usage"
        event = parse_notification(body)
        return str(self.run_once(request={"event_id": event.event_id, "body": body})["status"])

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        outcome = self.lifecycle.handle(parse_notification(request["body"]))
        return {"status": outcome.status, "customers": list(outcome.customers)}


@cache
def lifecycle_worker(settings: Settings, clock: Clock | None = None) -> LifecycleWorker:
    dynamodb = dynamodb_client(settings)
    moment = clock or app_clock(settings.clock_file)
    customers = DynamoCustomerRepository(dynamodb, settings.customers_table)
    deps = flush_deps(settings, moment)
    scheduler: FinalUsageScheduler = (
        SqsFinalUsageScheduler(sqs_client(settings), settings.lifecycle_queue_url, settings.final_usage_delay_seconds)
        if settings.lifecycle_queue_url
        else InlineFinalUsage(lambda ref: run_final_usage(ref, customers, deps, out_of_time=lambda: False))
    )
    publisher: EventPublisher = (
        EventBridgePublisher(events_client(settings), settings.event_bus_name)
        if settings.event_bus_name
        else RecordingPublisher()  # no bus locally: events go to the log
    )
    lifecycle = Lifecycle(
        settings=settings,
        events=DynamoLifecycleStore(dynamodb, settings.customers_table),
        customers=customers,
        entitlements=Boto3EntitlementReader(entitlement_client(settings)),
        publisher=publisher,
        final_usage=scheduler,
        clock=moment,
    )
    idempotency = IdempotencyConfig(
        event_key_jmespath="event_id", raise_on_no_idempotency_key=True, expires_after_seconds=IDEMPOTENCY_SECONDS
    )
    store = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb)
    worker = LifecycleWorker(lifecycle, customers, deps, idempotency, run_once=lambda request: request)

    def handle(request: dict[str, Any]) -> dict[str, Any]:
        return worker.handle(request)

    worker.run_once = idempotent_function(
        handle, data_keyword_argument="request", persistence_store=store, config=idempotency
    )
    return worker
