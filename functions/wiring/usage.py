"""Usage ingest with its real collaborators."""

from __future__ import annotations

import time
from functools import cache

from functions.clock import Clock, app_clock
from functions.customers.model import CustomerRepository
from functions.customers.replicas import ReadAgainWhenUnknown
from functions.customers.repository import DynamoCustomerRepository
from functions.settings import Settings
from functions.usage.recorder import UsageRecorder
from functions.wiring.aws_clients import dynamodb_client
from functions.wiring.usage_store import usage_store


@cache
def build(settings: Settings, clock: Clock | None = None) -> UsageRecorder:
    moment = clock or app_clock(settings.clock_file)
    customers: CustomerRepository = DynamoCustomerRepository(dynamodb_client(settings), settings.customers_table)
    if settings.customers_replica:  # a buyer registered a second ago in the main Region may not be here yet
        customers = ReadAgainWhenUnknown(customers, pause=time.sleep)
    return UsageRecorder(
        settings=settings,
        customers=customers,
        store=usage_store(settings, moment),
        clock=moment,
    )
