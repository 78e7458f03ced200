"""The usage store, built from settings: shared by ingest (which writes) and the flush (which reads)."""

from __future__ import annotations

from datetime import timedelta

from functions.aws_clients import dynamodb_client
from functions.clock import Clock
from functions.settings import Settings
from functions.usage.store import DynamoUsageStore


def usage_store(settings: Settings, clock: Clock | None = None) -> DynamoUsageStore:
    """``clock`` where events are written (it bounds how late a write may start); none where they are only read."""
    return DynamoUsageStore(
        dynamodb_client(settings),
        settings.usage_table,
        shards=settings.usage_shards,
        retention=timedelta(days=settings.audit_retention_days),
        clock=clock,
    )
