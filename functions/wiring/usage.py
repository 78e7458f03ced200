"""Usage ingest with its real collaborators."""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from functions.clock import Clock, app_clock
from functions.customers.repository import DynamoCustomerRepository
from functions.settings import Settings
from functions.usage.recorder import UsageRecorder
from functions.usage.store import DynamoUsageStore
from functions.wiring.aws_clients import dynamodb_client


def usage_store(settings: Settings, clock: Clock | None = None) -> DynamoUsageStore:
    """``clock`` where events are written (it bounds how late a write may start); none where they are only read."""
    return DynamoUsageStore(
        dynamodb_client(settings),
        settings.usage_table,
        shards=settings.usage_shards,
        retention=timedelta(days=settings.audit_retention_days),
        clock=clock,
    )


@cache
def build(settings: Settings, clock: Clock | None = None) -> UsageRecorder:
    moment = clock or app_clock(settings.clock_file)
    return UsageRecorder(
        settings=settings,
        customers=DynamoCustomerRepository(dynamodb_client(settings), settings.customers_table),
        store=usage_store(settings, moment),
        clock=moment,
    )
