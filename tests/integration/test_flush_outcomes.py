"""Flush outcomes against DynamoDB Local and the emulator: a legacy product metered end to end, terminal answers
(CustomerNotSubscribed, DuplicateRecord) stored once, counted and never resent, and the metrics they raise."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from functions.flush.ledger import DynamoMeteringLedger
from functions.flush.run import publish
from functions.flush.sender import Backoff
from functions.flush.service import FlushDeps, FlushReport, flush
from functions.marketplace.metering import Boto3MeteringGateway
from functions.observability import metrics
from functions.settings import CustomerMode, Dimension, Product, Settings
from functions.usage.ingest import record_usage
from functions.usage.store import DynamoUsageStore
from local.marketplace.testing import EmulatorHandle
from local.tables import FIXED_DATE_RETENTION

EVENT_TIME = datetime(2026, 11, 26, 9, 20, tzinfo=UTC)
FLUSH_TIME = datetime(2026, 11, 26, 10, 10, tzinfo=UTC)  # 09:00 is closed
ACCOUNT = "123456789012"


def _product(code: str, mode: CustomerMode) -> Product:
    return Product(code=code, name=code, dimensions=(Dimension(name="api_calls"),), customer_mode=mode)


class Setup:
    def __init__(self, settings: Settings, dynamodb: Any, marketplace: EmulatorHandle, product: Product) -> None:
        self.settings = replace(settings, products=(product,))
        self.dynamodb = dynamodb
        self.marketplace = marketplace
        self.product = product
        self.clock = ManualClock(EVENT_TIME)
        marketplace.admin.create_product(product.code, ["api_calls"], customer_mode=product.customer_mode)
        marketplace.admin.set_clock(EVENT_TIME.isoformat())
        self.customers = DynamoCustomerRepository(dynamodb, self.settings.customers_table)

    def subscribe(self, account: str) -> dict[str, Any]:
        sub = self.marketplace.admin.subscribe(self.product.code, account, start_time="2026-11-25T00:00:00Z")
        legacy = self.product.customer_mode == "legacy"
        ref = CustomerRef(
            self.product.code,
            license_arn=None if legacy else sub["license_arn"],
            customer_identifier=sub["customer_identifier"] if legacy else None,
        )
        self.customers.put(Customer(ref, account, SubscriptionState.ACTIVE, EVENT_TIME - timedelta(days=1)))
        return sub

    def record(self, event_id: str, sub: dict[str, Any], quantity: int) -> None:
        naming = (
            {"customer_identifier": sub["customer_identifier"]}
            if self.product.customer_mode == "legacy"
            else {"license_arn": sub["license_arn"], "customer_aws_account_id": sub["account_id"]}
        )
        event = {
            "event_id": event_id,
            "product_code": self.product.code,
            "dimension": "api_calls",
            "quantity": quantity,
        }
        result = record_usage(
            [{**event, **naming, "timestamp": EVENT_TIME.isoformat()}],
            settings=self.settings,
            customers=self.customers,
            store=DynamoUsageStore(self.dynamodb, self.settings.usage_table, shards=4, retention=FIXED_DATE_RETENTION),
            clock=self.clock,
        )
        assert result.accepted == (event_id,)

    def flush(self) -> FlushReport:
        self.clock.set(FLUSH_TIME)
        self.marketplace.admin.set_clock(FLUSH_TIME.isoformat())
        deps = FlushDeps(
            settings=self.settings,
            usage=DynamoUsageStore(self.dynamodb, self.settings.usage_table, shards=4, retention=FIXED_DATE_RETENTION),
            ledger=DynamoMeteringLedger(self.dynamodb, self.settings.metering_table, retention=FIXED_DATE_RETENTION),
            customers=self.customers,
            gateway=Boto3MeteringGateway(self.marketplace.metering(max_attempts=1)),
            clock=self.clock,
            backoff=Backoff(base=0.001, cap=0.01),
        )
        return flush(deps, remaining_ms=lambda: 900_000)

    def stored_statuses(self) -> dict[str, str]:
        ledger = DynamoMeteringLedger(self.dynamodb, self.settings.metering_table, retention=FIXED_DATE_RETENTION)
        return {e.record.customer_key: e.status for e in ledger.entries_of_hour(EVENT_TIME.replace(minute=0))}


@pytest.fixture
def license_product(settings: Settings, dynamodb: Any, marketplace: EmulatorHandle) -> Setup:
    return Setup(settings, dynamodb, marketplace, _product("outcomes-product", "license"))


def test_a_legacy_product_is_metered_by_customer_identifier_with_its_product_code(
    settings: Settings, dynamodb: Any, marketplace: EmulatorHandle
) -> None:
    # Given a legacy product (customers named by CustomerIdentifier) and two events of one customer in an hour
    setup = Setup(settings, dynamodb, marketplace, _product("legacy-product", "legacy"))
    sub = setup.subscribe(ACCOUNT)
    setup.record("e1", sub, 4)
    setup.record("e2", sub, 5)
    # When the hour is flushed
    report = setup.flush()
    # Then Marketplace billed the hour's total once, to that customer identifier
    assert (report.succeeded, dict(report.failed)) == (1, {})
    (entry,) = marketplace.admin.ledger(product_code="legacy-product")
    assert (entry["customer_identifier"], entry["dimension"], entry["quantity"]) == (
        sub["customer_identifier"],
        "api_calls",
        "9",
    )
    assert entry["hour"].startswith("2026-11-26T09")


def test_customer_not_subscribed_and_duplicate_record_are_terminal_counted_and_never_resent(
    license_product: Setup,
) -> None:
    setup = license_product
    ended, duplicated, fine = (setup.subscribe(f"{100000000000 + n}") for n in range(3))
    for n, sub in enumerate((ended, duplicated, fine)):
        setup.record(f"e{n}", sub, 10)
    # Given Marketplace ended one subscription since, and already holds another's hour with another quantity
    setup.marketplace.admin.unsubscribe(ended["agreement_id"])
    setup.marketplace.admin.finalize(ended["agreement_id"])
    earlier = {
        "Timestamp": EVENT_TIME,
        "Dimension": "api_calls",
        "CustomerAWSAccountId": duplicated["account_id"],
        "LicenseArn": duplicated["license_arn"],
        "Quantity": 3,
    }
    setup.marketplace.metering().batch_meter_usage(UsageRecords=[earlier])
    # When the hour is flushed, and flushed again
    report = setup.flush()
    again = setup.flush()
    # Then both answers are final: counted by reason, stored with the record, not retried, not sent again
    assert report.succeeded == 1
    assert (report.not_subscribed, report.duplicates) == (1, 1)
    assert dict(report.failed) == {"CustomerNotSubscribed": 1, "DuplicateRecord": 1}
    assert report.records_retried == 0
    assert (again.records_sent, again.left_pending) == (0, 0)
    statuses = setup.stored_statuses()
    assert sorted(statuses.values()) == ["duplicate", "not_subscribed", "sent"]
    # and Marketplace bills the first quantity it got for the duplicated hour, nothing for the ended customer
    billed = {e["license_arn"]: e["quantity"] for e in setup.marketplace.admin.ledger(product_code=setup.product.code)}
    assert billed == {duplicated["license_arn"]: "3", fine["license_arn"]: "10"}


def test_failures_are_published_as_one_metric_with_a_reason_dimension(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a run with refused records of two reasons and records still unprocessed after every retry
    report = FlushReport(succeeded=3, unprocessed_after_retries=2, left_pending=2)
    report.failed.update({"DuplicateRecord": 1, "InvalidLicenseException": 2})
    # When it is published
    publish(report)
    metrics.flush_metrics()
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]

    def value(document: dict[str, Any], name: str) -> float:
        found = document[name]
        return float(found[0] if isinstance(found, list) else found)

    # Then RecordsFailed exists per reason (service + reason) and in total (service), plus the unprocessed count
    by_reason = {
        d["reason"]: value(d, "RecordsFailed")
        for d in documents
        if "reason" in d and d["service"] == "marketplace-metering"
    }
    assert by_reason == {"DuplicateRecord": 1.0, "InvalidLicenseException": 2.0}
    totals = [d for d in documents if "reason" not in d and "RecordsFailed" in d]
    assert [(value(d, "RecordsFailed"), value(d, "RecordsUnprocessedAfterRetries")) for d in totals] == [(3.0, 2.0)]
    for document in documents:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "MarketplaceMetering"
