"""The usage table's store, for the capabilities that write usage (ingest) and those that only read it (the flush,
a leaving buyer's final usage): kept apart from ingest's wiring so a reader does not import ingest's validation."""

from __future__ import annotations

from datetime import timedelta

from functions.clock import Clock
from functions.settings import Settings
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
