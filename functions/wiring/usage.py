"""Usage ingest with its real collaborators."""

from __future__ import annotations

from functools import cache

from functions.clock import Clock, app_clock
from functions.customers.repository import DynamoCustomerRepository
from functions.settings import Settings
from functions.usage.recorder import UsageRecorder
from functions.wiring.aws_clients import dynamodb_client
from functions.wiring.usage_store import usage_store


@cache
def build(settings: Settings, clock: Clock | None = None) -> UsageRecorder:
    moment = clock or app_clock(settings.clock_file)
    return UsageRecorder(
        settings=settings,
        customers=DynamoCustomerRepository(dynamodb_client(settings), settings.customers_table),
        store=usage_store(settings, moment),
        clock=moment,
    )
