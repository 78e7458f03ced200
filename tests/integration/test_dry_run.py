"""Dry-run metering end to end on DynamoDB Local and the emulator: the flush and a leaving buyer's final usage do
everything but bill, and Marketplace never hears of it (the emulator's call log stays empty)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from functions.flush.customer import send_customer_usage
from functions.flush.ledger import DynamoMeteringLedger
from functions.flush.sender import Backoff
from functions.flush.service import FlushDeps, flush
from functions.settings import Dimension, Product, Settings
from functions.usage.ingest import record_usage
from functions.usage.store import DynamoUsageStore
from functions.wiring.flush import metering_gateway
from local.marketplace.testing import EmulatorHandle
from local.tables import FIXED_DATE_RETENTION

PRODUCT = Product(code="dryrun-product", name="Dry run", dimensions=(Dimension(name="api_calls"),))
EVENT_TIME = datetime(2026, 11, 26, 9, 20, tzinfo=UTC)


def test_a_dry_run_stage_meters_everything_and_marketplace_hears_nothing(
    settings: Settings, dynamodb: Any, marketplace: EmulatorHandle
) -> None:
    # Given a stack metering dry-run, two buyers' usage in 09:00 and one leaving buyer's in 10:00
    dry = replace(settings, products=(PRODUCT,), metering_mode="dry-run")
    clock = ManualClock(EVENT_TIME)
    marketplace.admin.create_product(PRODUCT.code, ["api_calls"], customer_mode="license")
    marketplace.admin.set_clock(EVENT_TIME.isoformat())
    customers = DynamoCustomerRepository(dynamodb, dry.customers_table)
    store = DynamoUsageStore(dynamodb, dry.usage_table, shards=dry.usage_shards, retention=FIXED_DATE_RETENTION)
    buyers = []
    for n in range(2):
        sub = marketplace.admin.subscribe(PRODUCT.code, f"{100000000000 + n}", start_time="2026-11-25T00:00:00Z")
        ref = CustomerRef(PRODUCT.code, license_arn=sub["license_arn"])
        customers.put(Customer(ref, sub["account_id"], SubscriptionState.ACTIVE, EVENT_TIME - timedelta(days=1)))
        buyers.append(sub)

    def record(event_id: str, sub: dict[str, Any], quantity: int) -> None:
        event = {
            "event_id": event_id,
            "product_code": PRODUCT.code,
            "license_arn": sub["license_arn"],
            "customer_aws_account_id": sub["account_id"],
            "dimension": "api_calls",
            "quantity": quantity,
            "timestamp": clock.now().isoformat(),
        }
        result = record_usage([event], settings=dry, customers=customers, store=store, clock=clock)
        assert result.accepted == (event_id,)

    record("a", buyers[0], 4)
    record("b", buyers[1], 6)
    ledger = DynamoMeteringLedger(dynamodb, dry.metering_table, retention=FIXED_DATE_RETENTION)
    deps = FlushDeps(
        settings=dry,
        usage=store,
        ledger=ledger,
        customers=customers,
        gateway=metering_gateway(dry, clock),  # what the stack's functions build from METERING_MODE
        clock=clock,
        backoff=Backoff(base=0.001, cap=0.01),
    )
    clock.set(EVENT_TIME.replace(minute=2) + timedelta(hours=1))
    record("c", buyers[0], 5)
    # When 09:00 is flushed, and the leaving buyer's final usage (10:00, still open for others) is sent early
    clock.set(EVENT_TIME.replace(minute=6) + timedelta(hours=1))
    report = flush(deps, remaining_ms=lambda: 900_000)
    leaving = customers.get(CustomerRef(PRODUCT.code, license_arn=buyers[0]["license_arn"]))
    assert leaving is not None
    final = send_customer_usage(leaving, deps, out_of_time=lambda: False)
    # Then every record was metered dry-run, none billed, none failed
    assert (report.dry_run, report.succeeded, dict(report.failed)) == (2, 0, {})
    assert (final.dry_run, final.sent, final.failed) == (1, 0, 0)
    hours = [EVENT_TIME.replace(minute=0), EVENT_TIME.replace(minute=0) + timedelta(hours=1)]
    entries = [entry for hour in hours for entry in ledger.entries_of_hour(hour)]
    assert sorted((e.status, int(e.record.quantity)) for e in entries) == [
        ("dry_run", 4),
        ("dry_run", 5),
        ("dry_run", 6),
    ]
    # the hour the flush sealed is kept as sealed in dry run (the reconciliation passes it over), the open one not yet
    assert [ledger.sealed_in_dry_run(hour) for hour in hours] == [True, False]
    # and Marketplace never received a call, nor billed anything
    assert marketplace.admin.calls(operation="BatchMeterUsage") == []
    assert marketplace.admin.ledger(product_code=PRODUCT.code) == []
