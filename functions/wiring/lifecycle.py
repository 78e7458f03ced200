"""The lifecycle with its real collaborators: the customers table, GetEntitlements and GetAgreementEntitlements, the
seller events, the lifecycle queue (a leaving buyer's timer) with the flush's collaborators for their final usage, and
Powertools idempotency on the event id."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from functions.clock import Clock, app_clock
from functions.customers.final_usage_requests import DynamoFinalUsageRequests
from functions.customers.lifecycle_store import DynamoLifecycleStore
from functions.customers.model import Customer
from functions.customers.repository import DynamoCustomerRepository
from functions.eventbridge import EventBridgePublisher
from functions.lifecycle.final_usage import SendUsage, SqsFinalUsage
from functions.lifecycle.service import Lifecycle
from functions.lifecycle.worker import LifecycleWorker
from functions.marketplace.agreements import MarketplaceAgreementEntitlements
from functions.marketplace.entitlements import Boto3EntitlementReader
from functions.seller_events import EventPublisher, RecordingPublisher
from functions.settings import Settings, SettingsError
from functions.wiring.aws_clients import (
    agreement_client,
    dynamodb_client,
    entitlement_client,
    events_client,
    sqs_client,
)
from functions.wiring.registration_timers import free_trial_checks, seller_event_retries

# Duplicates of a notification arrive within minutes; a message lives at most 4 days in the queue.
IDEMPOTENCY_SECONDS = 4 * 24 * 3600


@cache
def build(settings: Settings, clock: Clock | None = None) -> LifecycleWorker:
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
        final_usage=SqsFinalUsage(sqs_client(settings), settings.lifecycle_queue_url, _final_usage(settings, clock)),
        clock=moment,
        agreement_entitlements=MarketplaceAgreementEntitlements(agreement_client(settings)),
        # a leaving buyer's final usage is asked of every other metering Region too
        other_regions=DynamoFinalUsageRequests(dynamodb, settings.customers_table, settings.other_metering_regions)
        if settings.other_metering_regions
        else None,
    )
    idempotency = IdempotencyConfig(
        event_key_jmespath="event_id", raise_on_no_idempotency_key=True, expires_after_seconds=IDEMPOTENCY_SECONDS
    )
    store = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb)
    # the timers registration leaves on this queue: a free-trial claim to check again, a seller event to publish again
    checks = free_trial_checks(settings, dynamodb, publisher, moment)
    retries = seller_event_retries(settings, publisher)
    worker = LifecycleWorker(
        lifecycle, idempotency, run_once=lambda request: request, timers=(checks.handle, retries.handle)
    )

    def handle(request: dict[str, Any]) -> dict[str, Any]:
        return worker.handle(request)

    worker.run_once = idempotent_function(
        handle, data_keyword_argument="request", persistence_store=store, config=idempotency
    )

    def publish_once(function: Callable[[dict[str, Any]], dict[str, Any]], request: dict[str, Any]) -> dict[str, Any]:
        # a retried seller event once per its event_id (SQS may deliver its message again)
        once = idempotent_function(
            function,
            data_keyword_argument="request",
            persistence_store=store,
            config=idempotency,
            key_prefix="seller_event_retry",
        )
        result: dict[str, Any] = once(request=request)
        return result

    retries.run_once = publish_once
    return worker


def _final_usage(settings: Settings, clock: Clock | None) -> SendUsage:
    """A leaving buyer's final usage, sent by the flush with its own collaborators."""

    def send(customer: Customer, out_of_time: Callable[[], bool]) -> None:
        # Imported and built on the first final usage this environment sends, not at start-up: most messages of this
        # queue (notifications, other timers) send none, and the flush's modules would be a third of this function's
        # own import time (bench/cold_start.py). flush.build is cached, so it is built once.
        from functions.flush.customer import final_usage_sender
        from functions.wiring import flush

        final_usage_sender(flush.build(settings, clock))(customer, out_of_time)

    return send
