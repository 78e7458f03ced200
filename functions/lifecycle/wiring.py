"""The lifecycle's real collaborators, built on first use from settings (nothing at import time)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from functions.aws_clients import dynamodb_client, entitlement_client, events_client, sqs_client
from functions.clock import Clock, app_clock
from functions.customers.lifecycle_store import DynamoLifecycleStore
from functions.customers.repository import DynamoCustomerRepository
from functions.eventbridge import EventBridgePublisher
from functions.flush.wiring import flush_deps
from functions.lifecycle.final_usage import SqsFinalUsage, requested_final_usage
from functions.lifecycle.notifications import parse_notification
from functions.lifecycle.service import Lifecycle
from functions.marketplace.entitlements import Boto3EntitlementReader
from functions.observability import logger
from functions.seller_events import EventPublisher, RecordingPublisher
from functions.settings import Settings, SettingsError

# Duplicates of a notification arrive within minutes; a message lives at most 4 days in the queue.
IDEMPOTENCY_SECONDS = 4 * 24 * 3600


@dataclass
class LifecycleWorker:
    lifecycle: Lifecycle
    idempotency: IdempotencyConfig
    run_once: Callable[..., dict[str, Any]]  # run_once(request=...) runs ``handle`` once per event id

    def process(self, body: str, *, message_id: str, sent_at: datetime, out_of_time: Callable[[], bool]) -> str:
        """One SQS message: a lifecycle notification (once per event id) or a leaving buyer's timer."""
        ref = requested_final_usage(body)
        if ref is not None:
            outcome = self.lifecycle.continue_ending(ref, out_of_time)
            logger.info("leaving buyer's timer", customer=ref.key, outcome=outcome.status)
            return outcome.status
        event = parse_notification(body, message_id=message_id, sent_at=sent_at)
        request = {"event_id": event.event_id, "body": body, "message_id": message_id, "sent_at": sent_at.isoformat()}
        return str(self.run_once(request=request)["status"])

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        event = parse_notification(
            request["body"], message_id=request["message_id"], sent_at=datetime.fromisoformat(request["sent_at"])
        )
        outcome = self.lifecycle.handle(event)
        return {"status": outcome.status, "customers": list(outcome.customers)}


@cache
def lifecycle_worker(settings: Settings, clock: Clock | None = None) -> LifecycleWorker:
    if not settings.lifecycle_queue_url:
        # a leaving buyer's final usage and end run on the queue's delayed messages
        raise SettingsError("invalid configuration: LIFECYCLE_QUEUE_URL: the lifecycle function needs its queue")
    dynamodb = dynamodb_client(settings)
    moment = clock or app_clock(settings.clock_file)
    customers = DynamoCustomerRepository(dynamodb, settings.customers_table)
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
        final_usage=SqsFinalUsage(sqs_client(settings), settings.lifecycle_queue_url, flush_deps(settings, moment)),
        clock=moment,
    )
    idempotency = IdempotencyConfig(
        event_key_jmespath="event_id", raise_on_no_idempotency_key=True, expires_after_seconds=IDEMPOTENCY_SECONDS
    )
    store = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb)
    worker = LifecycleWorker(lifecycle, idempotency, run_once=lambda request: request)

    def handle(request: dict[str, Any]) -> dict[str, Any]:
        return worker.handle(request)

    worker.run_once = idempotent_function(
        handle, data_keyword_argument="request", persistence_store=store, config=idempotency
    )
    return worker
