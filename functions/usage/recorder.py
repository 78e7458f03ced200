"""Usage ingest with its real collaborators, built on first use from settings (nothing at import time)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from functions.aws_clients import dynamodb_client
from functions.clock import Clock, app_clock
from functions.customers.repository import CustomerRepository, DynamoCustomerRepository
from functions.settings import Settings
from functions.usage.ingest import IngestResult, UsageStore, ingest, record_usage
from functions.usage.schema import UsageBatchIn, UsageEventIn
from functions.usage.wiring import usage_store


@dataclass(frozen=True)
class UsageRecorder:
    settings: Settings
    customers: CustomerRepository
    store: UsageStore
    clock: Clock

    def record(self, events: Sequence[dict[str, Any] | UsageEventIn]) -> IngestResult:
        return record_usage(
            events, settings=self.settings, customers=self.customers, store=self.store, clock=self.clock
        )

    def ingest(self, batch: UsageBatchIn) -> IngestResult:
        return ingest(batch, settings=self.settings, customers=self.customers, store=self.store, clock=self.clock)


@cache
def usage_recorder(settings: Settings, clock: Clock | None = None) -> UsageRecorder:
    moment = clock or app_clock(settings.clock_file)
    return UsageRecorder(
        settings=settings,
        customers=DynamoCustomerRepository(dynamodb_client(settings), settings.customers_table),
        store=usage_store(settings, moment),
        clock=moment,
    )
