"""A leaving buyer's final usage in another metering Region: the main Region's lifecycle asks (a request per Region
in the replicated customers table), and that Region's flush sends the buyer's usage there at once, signed for its
Region, billed once; on DynamoDB Local and the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.clock import ManualClock
from functions.customers.final_usage_requests import DynamoFinalUsageRequests
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from functions.flush.customer import CustomerUsageReport, answer_final_usage_requests
from functions.flush.ledger import DynamoMeteringLedger
from functions.flush.sender import Backoff
from functions.flush.service import FlushDeps
from functions.settings import Dimension, Product, Settings
from functions.usage.ingest import record_usage
from functions.usage.store import DynamoUsageStore
from functions.wiring.flush import metering_gateway
from local.marketplace.testing import EmulatorHandle
from local.tables import FIXED_DATE_RETENTION, create_fresh_tables, delete_tables

PRODUCT = Product(code="regional-product", name="Regional", dimensions=(Dimension(name="api_calls"),))
USED_AT = datetime(2026, 11, 26, 10, 20, tzinfo=UTC)
REGION = "eu-west-1"


@pytest.fixture
def europe(
    settings: Settings, dynamodb: Any, dynamodb_endpoint: str, marketplace: EmulatorHandle
) -> Iterator[Settings]:
    """eu-west-1's metering stack: its own usage and metering tables, the main stack's customers table (locally the
    one table stands for its replica), BatchMeterUsage signed for its Region."""
    own = create_fresh_tables(dynamodb, dynamodb_endpoint, "eu")
    yield replace(
        settings,
        region=REGION,
        products=(PRODUCT,),
        usage_table=own.usage_table,
        metering_table=own.metering_table,
        marketplace_endpoint=marketplace.url,
    )
    delete_tables(dynamodb, own)


def test_another_region_sends_a_leaving_buyers_usage_when_the_main_region_asks(
    settings: Settings, europe: Settings, dynamodb: Any, marketplace: EmulatorHandle
) -> None:
    # Given a buyer whose usage in their final hour happened in eu-west-1
    clock = ManualClock(USED_AT)
    marketplace.admin.create_product(PRODUCT.code, ["api_calls"], customer_mode="license")
    marketplace.admin.set_clock(USED_AT.isoformat())
    sub = marketplace.admin.subscribe(PRODUCT.code, "123456789012", start_time="2026-11-25T00:00:00Z")
    ref = CustomerRef(PRODUCT.code, license_arn=sub["license_arn"])
    customers = DynamoCustomerRepository(dynamodb, settings.customers_table)
    cutoff = USED_AT.replace(minute=45)
    leaving = Customer(ref, sub["account_id"], SubscriptionState.ENDING, USED_AT, final_usage_cutoff=cutoff)
    customers.put(leaving)
    store = DynamoUsageStore(dynamodb, europe.usage_table, shards=europe.usage_shards, retention=FIXED_DATE_RETENTION)
    for event_id, quantity in (("a", 4), ("b", 3)):
        event = {
            "event_id": event_id,
            "product_code": PRODUCT.code,
            "license_arn": sub["license_arn"],
            "customer_aws_account_id": sub["account_id"],
            "dimension": "api_calls",
            "quantity": quantity,
            "timestamp": USED_AT.isoformat(),
        }
        assert record_usage([event], settings=europe, customers=customers, store=store, clock=clock).accepted
    deps = FlushDeps(
        settings=europe,
        usage=store,
        ledger=DynamoMeteringLedger(dynamodb, europe.metering_table, retention=FIXED_DATE_RETENTION),
        customers=customers,
        gateway=metering_gateway(europe, clock),
        clock=clock,
        backoff=Backoff(base=0.001, cap=0.01),
    )
    requests = DynamoFinalUsageRequests(dynamodb, settings.customers_table)
    main_region = DynamoFinalUsageRequests(dynamodb, settings.customers_table, (REGION, "ap-southeast-2"))
    # When nothing is asked, the Region's schedule sends nothing
    assert answer_final_usage_requests(deps, requests, out_of_time=lambda: False) == {}
    # When the main Region's final-usage step asks eu-west-1 and ap-southeast-2, just after the cutoff
    clock.set(cutoff + timedelta(seconds=30))
    main_region.ask(ref, clock.now())
    # Then, with writes accepted here at the cutoff possibly still in flight, nothing is sent yet: the next run will
    answers = answer_final_usage_requests(deps, requests, out_of_time=lambda: False)
    assert answers == {ref.key: None}
    assert marketplace.admin.ledger(product_code=PRODUCT.code) == []
    # When the next run comes, 5 minutes later
    deps = replace(deps, clock=ManualClock(cutoff + timedelta(minutes=5, seconds=30)))
    answers = answer_final_usage_requests(deps, requests, out_of_time=lambda: False)
    # Then eu-west-1 sent the buyer's open hour at once, in its Region, and answered the request
    report = answers[ref.key]
    assert report is not None
    assert (report.records, report.sent, report.failed) == (1, 1, 0)
    billed = [(r["region"], r["hour"], r["quantity"]) for r in marketplace.admin.ledger(product_code=PRODUCT.code)]
    assert billed == [(REGION, "2026-11-26T10:00:00Z", "7")]
    assert requests.pending(REGION) == []
    # and the other Region's request is its own to answer
    assert [r.ref for r in requests.pending("ap-southeast-2")] == [ref]
    # When the schedule runs again, nothing more is sent or billed
    assert answer_final_usage_requests(deps, requests, out_of_time=lambda: False) == {}
    assert len(marketplace.admin.ledger(product_code=PRODUCT.code)) == 1


def test_a_buyer_no_longer_leaving_has_nothing_sent_early(
    settings: Settings, europe: Settings, dynamodb: Any, marketplace: EmulatorHandle
) -> None:
    # Given a request for a buyer who subscribed again before this Region answered it (their hour still open here)
    ref = CustomerRef(PRODUCT.code, license_arn="arn:aws:license-manager::123456789012:license:l-0123456789abcdef0")
    customers = DynamoCustomerRepository(dynamodb, settings.customers_table)
    customers.put(Customer(ref, "123456789012", SubscriptionState.ACTIVE, USED_AT))
    clock = ManualClock(USED_AT.replace(minute=50))
    DynamoFinalUsageRequests(dynamodb, settings.customers_table, (REGION,)).ask(ref, clock.now())
    requests = DynamoFinalUsageRequests(dynamodb, settings.customers_table)
    deps = FlushDeps(
        settings=europe,
        usage=DynamoUsageStore(
            dynamodb, europe.usage_table, shards=europe.usage_shards, retention=FIXED_DATE_RETENTION
        ),
        ledger=DynamoMeteringLedger(dynamodb, europe.metering_table, retention=FIXED_DATE_RETENTION),
        customers=customers,
        gateway=metering_gateway(europe, clock),
        clock=clock,
    )
    # When the Region's schedule runs
    answers = answer_final_usage_requests(deps, requests, out_of_time=lambda: False)
    # Then nothing was sealed or sent early (the hourly flush bills them as everyone), and the request is answered
    assert answers == {ref.key: CustomerUsageReport()}
    assert (
        DynamoMeteringLedger(dynamodb, europe.metering_table, retention=FIXED_DATE_RETENTION).next_hour_to_seal()
        is None
    )
    assert marketplace.admin.calls(operation="BatchMeterUsage") == []
    assert requests.pending(REGION) == []


def test_a_request_asked_again_while_it_was_answered_stays_for_the_next_run(settings: Settings, dynamodb: Any) -> None:
    ref = CustomerRef(PRODUCT.code, license_arn="arn:aws:license-manager::123456789012:license:l-0123456789abcdef0")
    main_region = DynamoFinalUsageRequests(dynamodb, settings.customers_table, (REGION,))
    requests = DynamoFinalUsageRequests(dynamodb, settings.customers_table)
    main_region.ask(ref, datetime(2026, 11, 26, 10, 47, tzinfo=UTC))
    [read] = requests.pending(REGION)
    assert read.ref == ref
    main_region.ask(ref, datetime(2026, 11, 26, 10, 52, tzinfo=UTC))  # asked again meanwhile
    requests.answered(REGION, read)
    [left] = requests.pending(REGION)
    assert left.requested_at > read.requested_at
    requests.answered(REGION, left)
    assert requests.pending(REGION) == []
    # and the requests are not customers: listing them shows none
    assert list(DynamoCustomerRepository(dynamodb, settings.customers_table).list_all()) == []
