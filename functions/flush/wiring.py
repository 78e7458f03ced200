"""The flush's real collaborators, built from settings on first use."""

from __future__ import annotations

from datetime import timedelta

from functions.aws_clients import dynamodb_client, metering_client
from functions.clock import Clock, SystemClock
from functions.customers.repository import DynamoCustomerRepository
from functions.flush.ledger import DynamoMeteringLedger
from functions.flush.service import FlushDeps
from functions.metering.gateway import Boto3MeteringGateway
from functions.settings import Settings
from functions.usage.wiring import usage_store


def flush_deps(settings: Settings, clock: Clock | None = None) -> FlushDeps:
    dynamodb = dynamodb_client(settings)
    return FlushDeps(
        settings=settings,
        usage=usage_store(settings),
        ledger=DynamoMeteringLedger(
            dynamodb, settings.metering_table, retention=timedelta(days=settings.audit_retention_days)
        ),
        customers=DynamoCustomerRepository(dynamodb, settings.customers_table),
        gateway=Boto3MeteringGateway(metering_client(settings)),
        clock=clock or SystemClock(),
    )
