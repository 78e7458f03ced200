"""The flush with its real collaborators, and its continuation in a fresh invocation."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from itertools import chain
from typing import Any

from functions.clock import Clock, app_clock
from functions.customers.final_usage_requests import DynamoFinalUsageRequests
from functions.customers.repository import DynamoCustomerRepository
from functions.flush.aggregate import aggregate
from functions.flush.audit import AuditDeps, Unreadable, ours_by
from functions.flush.dry_run import DryRunMeteringGateway
from functions.flush.ledger import DynamoMeteringLedger
from functions.flush.quota import DynamoQuotaSlots
from functions.flush.records import MeteringGateway, MeteringRecord
from functions.flush.sender import SharedTokenBucket
from functions.flush.service import FlushDeps
from functions.marketplace.cloudtrail import CloudTrailReader
from functions.marketplace.metering import Boto3MeteringGateway
from functions.observability import logger
from functions.settings import Settings
from functions.wiring.aws_clients import cloudtrail_client, dynamodb_client, lambda_client, metering_client
from functions.wiring.usage_store import usage_store


@cache
def build(settings: Settings, clock: Clock | None = None) -> FlushDeps:
    dynamodb = dynamodb_client(settings)
    moment = clock or app_clock(settings.clock_file)
    return FlushDeps(
        settings=settings,
        usage=usage_store(settings),
        ledger=DynamoMeteringLedger(
            dynamodb, settings.metering_table, retention=timedelta(days=settings.audit_retention_days), clock=moment
        ),
        customers=DynamoCustomerRepository(dynamodb, settings.customers_table),
        gateway=metering_gateway(settings, moment),
        clock=moment,
        limiter=metering_rate(settings, dynamodb),
    )


def metering_rate(settings: Settings, dynamodb: Any) -> SharedTokenBucket:
    """One BatchMeterUsage quota for every sender of the account and Region (the flush's calls in flight, each leaving
    buyer's final usage, whatever Lambda runs them): slots of one schedule in the metering table."""
    return SharedTokenBucket(
        float(settings.metering_calls_per_second), DynamoQuotaSlots(dynamodb, settings.metering_table)
    )


@cache
def audit(settings: Settings) -> AuditDeps:
    """The reconciliation: the ledger's records of each settled hour against CloudTrail's event history."""
    dynamodb = dynamodb_client(settings)
    ledger = DynamoMeteringLedger(
        dynamodb, settings.metering_table, retention=timedelta(days=settings.audit_retention_days)
    )
    customers = DynamoCustomerRepository(dynamodb, settings.customers_table)
    products = tuple(p.code for p in settings.products)
    usage = usage_store(settings)

    def accepted(hour: datetime) -> list[MeteringRecord]:
        return aggregate(hour, chain(usage.events_of_hour(hour), usage.late_events_billed_in(hour)), settings.products)

    return AuditDeps(
        entries_of_hour=ledger.entries_of_hour,
        trail=CloudTrailReader(cloudtrail_client(settings), unreadable=_unreadable),
        ours=ours_by(products, lambda ref: customers.get(ref) is not None),
        mark=ledger,
        accepted=accepted,
    )


def _unreadable(gap: Unreadable) -> None:
    # what the reconciliation cannot read it cannot check: said in the log, never dropped silently
    logger.warning("a CloudTrail result could not be read", extra={"event_id": gap.event_id, "why": gap.why})


def final_usage_requests(settings: Settings) -> DynamoFinalUsageRequests:
    """What the main Region asked this one to send now (a leaving buyer's final usage)."""
    return DynamoFinalUsageRequests(dynamodb_client(settings), settings.customers_table)


def metering_gateway(settings: Settings, clock: Clock, client: Callable[[], Any] | None = None) -> MeteringGateway:
    """BatchMeterUsage (through ``client``, the app's own by default) when live; in dry-run, a gateway that checks
    each call and bills nothing (and the stack grants no BatchMeterUsage at all)."""
    if not settings.bills:
        return DryRunMeteringGateway(clock)
    return Boto3MeteringGateway(client() if client else metering_client(settings))


def self_invocation(settings: Settings, function_name: str, run: int) -> Callable[[], None]:
    """Continue the backlog in a fresh invocation of this function (``function_name``: a name or an ARN, an alias's
    where SnapStart is on), asynchronously (the caller returns at once).

    Reserved concurrency 1 throttles it until this run has returned; Lambda retries throttled asynchronous
    invocations by itself, so the continuation starts seconds later.
    """

    def invoke() -> None:
        lambda_client(settings).invoke(
            FunctionName=function_name, InvocationType="Event", Payload=json.dumps({"continuation": run}).encode()
        )

    return invoke
