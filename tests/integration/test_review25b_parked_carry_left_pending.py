"""Review 25b, on DynamoDB Local and the Marketplace emulator: a leaving buyer's final-usage step placed their last
hour's carry (7 units in an earlier hour of theirs, 3 parked: no hour left) and wrote those records, then died before
marking the parked one failed (a throttled write), and is never tried again. The flush sealing the carry's hour bills
the 7 where they were placed and parks the 3 (CarriedPastEnd) instead of sending them for the hour after the
buyer's final hour."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from functions.flush.ledger import DynamoMeteringLedger
from functions.flush.records import PARKED_CARRY, MeteringRecord, RecordResult
from functions.flush.sender import Backoff
from functions.flush.service import FlushDeps, flush
from functions.marketplace.metering import Boto3MeteringGateway
from functions.settings import Dimension, Product, Settings
from functions.usage.store import DynamoUsageStore
from local.marketplace.testing import EmulatorHandle
from local.tables import FIXED_DATE_RETENTION

PRODUCT = Product(code="parked-carry-product", name="P", dimensions=(Dimension(name="api_calls"),))
ACCOUNT = "123456789012"
NINE = datetime(2026, 11, 26, 9, tzinfo=UTC)
TEN = NINE + timedelta(hours=1)


def _api_calls_of_ten(
    ref: CustomerRef,
    quantity: Decimal,
    *,
    events: int,
    license_arn: str | None = None,
    customer_identifier: str | None = None,
) -> MeteringRecord:
    """The buyer's api_calls record of 10:00, named by their licence ARN or legacy identifier."""
    return MeteringRecord(
        key=f"{PRODUCT.code}#{ref.key}#api_calls",
        hour=TEN,
        product_code=PRODUCT.code,
        customer_key=ref.key,
        customer_aws_account_id=ACCOUNT,
        dimension="api_calls",
        quantity=quantity,
        integer=True,
        license_arn=license_arn,
        customer_identifier=customer_identifier,
        events=events,
    )


def test_a_parked_carry_a_dead_step_left_pending_is_parked_by_the_flush_and_never_sent(
    settings: Settings, dynamodb: Any, marketplace: EmulatorHandle
) -> None:
    settings = replace(settings, products=(PRODUCT,))
    marketplace.admin.create_product(PRODUCT.code, ["api_calls"], customer_mode="license")
    sub = marketplace.admin.subscribe(PRODUCT.code, ACCOUNT, start_time="2026-11-25T00:00:00Z")
    ref = CustomerRef(PRODUCT.code, license_arn=sub["license_arn"])
    customers = DynamoCustomerRepository(dynamodb, settings.customers_table)
    customers.put(Customer(ref, ACCOUNT, SubscriptionState.ACTIVE, NINE - timedelta(days=1)))

    def ledger() -> DynamoMeteringLedger:  # each process its own
        return DynamoMeteringLedger(dynamodb, settings.metering_table, retention=FIXED_DATE_RETENTION)

    clock = ManualClock(TEN + timedelta(minutes=30))
    assert ledger().seal(NINE)  # hours up to 09:00 sealed (no usage in 09:00), 10:00 open

    # Given the buyer's final-usage step (its own ledger) placed a carry of 10 into 10:00: 7 in 09:00, 3 parked
    carry = _api_calls_of_ten(ref, Decimal(10), events=2, license_arn=sub["license_arn"])
    step = ledger()
    placement = [(NINE, Decimal(7)), (None, Decimal(3))]
    assert step.place_carry(carry, placement) == placement
    in_nine = replace(carry, hour=NINE, quantity=Decimal(7), events=0)
    parked = replace(carry, key=carry.key + PARKED_CARRY, quantity=Decimal(3), events=0)
    # and wrote those records, then died before marking the 3 failed
    assert step.write_pending([in_nine, parked]) == [in_nine, parked]

    # When the flush seals 10:00 (at 11:10), and 11:00 an hour later
    for moment in (TEN + timedelta(hours=1, minutes=10), TEN + timedelta(hours=2, minutes=10)):
        clock.set(moment)
        marketplace.admin.set_clock(moment.isoformat())
        deps = FlushDeps(
            settings=settings,
            usage=DynamoUsageStore(dynamodb, settings.usage_table, shards=4, retention=FIXED_DATE_RETENTION),
            ledger=ledger(),
            customers=customers,
            gateway=Boto3MeteringGateway(marketplace.metering(max_attempts=1)),
            clock=clock,
            backoff=Backoff(base=0.001, cap=0.01),
        )
        flush(deps, remaining_ms=lambda: 900_000)

    # Then Marketplace billed the 7 in 09:00, once, and nothing in 10:00
    billed = [(e["hour"][:13], e["quantity"]) for e in marketplace.admin.ledger(product_code=PRODUCT.code)]
    assert billed == [("2026-11-26T09", "7")], billed
    # and the 3 are parked as the step parks them
    [stored] = [e for e in ledger().entries_of_hour(TEN) if e.record.key == parked.key]
    assert (stored.status, stored.reason, stored.record.quantity) == ("failed", "CarriedPastEnd", Decimal(3))
    [sent] = ledger().entries_of_hour(NINE)
    assert (sent.status, sent.record.quantity) == ("sent", Decimal(7))


def test_a_parked_carry_and_the_buyers_own_record_of_its_hour_are_stored_apart(
    settings: Settings, dynamodb: Any
) -> None:
    ledger = DynamoMeteringLedger(dynamodb, settings.metering_table, retention=FIXED_DATE_RETENTION)
    ref = CustomerRef(PRODUCT.code, customer_identifier="cust-0001")  # a legacy buyer, subscribed again
    own = _api_calls_of_ten(ref, Decimal(5), events=1, customer_identifier="cust-0001")
    parked = replace(own, key=own.key + PARKED_CARRY, quantity=Decimal(3), events=0)
    # Given the parked carry stored by a step, and again by a flush that did not see it (each writer its own ledger)
    assert ledger.write_pending([parked]) == [parked]
    ledger.write_results([RecordResult(parked, "failed", None, "CarriedPastEnd")])
    other = DynamoMeteringLedger(dynamodb, settings.metering_table, retention=FIXED_DATE_RETENTION)
    assert other.write_pending([parked]) == []  # stored already, with its outcome: kept, not sent
    # When the hour is sealed with the buyer's own record
    assert other.write_hour(TEN, [own]) == [own]
    # Then each is read back under its key, with its own quantity and outcome
    stored = {e.record.key: (e.record.quantity, e.status, e.reason) for e in ledger.entries_of_hour(TEN)}
    assert stored == {own.key: (Decimal(5), "pending", None), parked.key: (Decimal(3), "failed", "CarriedPastEnd")}
