"""The flush's rules on in-memory fakes: closed hours sealed oldest first, sent once, what Marketplace could not take
parked with the reason, stored totals never rewritten, an hour over the maximum carried, a second flush skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from functions.clock import ManualClock
from functions.flush.aggregate import aggregate
from functions.flush.records import MeteringRecord
from functions.flush.sender import Backoff
from functions.flush.service import FlushDeps, flush
from functions.settings import Dimension, Product, Settings
from functions.usage.model import MAX_INTEGER_QUANTITY, UsageEvent
from tests.fakes import FakeMarketplace, InMemoryCustomers, InMemoryLedger, InMemoryUsage

START = datetime(2026, 11, 26, 9, tzinfo=UTC)
PRODUCT = Product(code="p", name="P", dimensions=(Dimension("calls"),))
LICENCE = "arn:aws:license-manager::294406891311:license:l-{}"


def usage(n: int, minutes: int, quantity: int = 1, customer: int = 0) -> UsageEvent:
    moment = START + timedelta(minutes=minutes)
    return UsageEvent(
        event_id=f"e{n}",
        product_code="p",
        customer_key=f"LICENSE#{LICENCE.format(customer)}",
        customer_aws_account_id="111122223333",
        dimension="calls",
        quantity=Decimal(quantity),
        timestamp=moment,
        received_at=moment,
        license_arn=LICENCE.format(customer),
    )


def world(*events: UsageEvent, marketplace: FakeMarketplace | None = None, now: datetime) -> FlushDeps:
    store = InMemoryUsage()
    store.add(list(events))
    return FlushDeps(
        settings=Settings(products=(PRODUCT,)),
        usage=store,
        ledger=InMemoryLedger(),
        customers=InMemoryCustomers(),
        gateway=marketplace or FakeMarketplace(),
        clock=ManualClock(now),
        backoff=Backoff(sleep=lambda _: None),
        workers=1,
    )


def run(deps: FlushDeps) -> None:
    flush(deps, remaining_ms=lambda: 900_000)


def test_closed_hours_are_sealed_oldest_first_and_each_billed_once() -> None:
    marketplace = FakeMarketplace()
    events = (usage(1, 130, 2), usage(2, 10, 3), usage(3, 70, 4))
    deps = world(*events, marketplace=marketplace, now=START + timedelta(hours=3, minutes=6))
    run(deps)
    sent = [r for call in marketplace.calls for r in call]
    assert [(r.hour - START, r.quantity) for r in sent] == [
        (timedelta(0), Decimal(3)),
        (timedelta(hours=1), Decimal(4)),
        (timedelta(hours=2), Decimal(2)),
    ]
    assert len(marketplace.calls) == 3  # a call holds one hour's records (one stored chunk, one outcome write)
    run(deps)  # a second run sends nothing again
    assert len(marketplace.calls) == 3


def test_an_open_hour_is_not_sealed_until_its_grace_has_passed() -> None:
    deps = world(usage(1, 10), now=START + timedelta(hours=1, minutes=4))  # the grace is 5 minutes
    run(deps)
    assert isinstance(deps.gateway, FakeMarketplace)
    assert deps.gateway.calls == []


def test_what_marketplace_cannot_take_is_parked_with_the_reason_and_the_rest_billed() -> None:
    # Given two customers' hour, one of whom Marketplace refuses, and an hour past the 24-hour window
    marketplace = FakeMarketplace(refuse={LICENCE.format(1)})
    events = (usage(1, 10, customer=0), usage(2, 10, customer=1))
    deps = world(*events, marketplace=marketplace, now=START + timedelta(hours=1, minutes=6))
    ledger = deps.ledger
    assert isinstance(ledger, InMemoryLedger)
    ledger.write_pending([_record_of(usage(3, 10, customer=0), START - timedelta(hours=30))])
    ledger.next_hour = START  # that old hour was sealed, its record left unsent
    # When the flush runs
    run(deps)
    # Then the good record is billed, the refused one parked with Marketplace's reason, the old one never sent
    assert marketplace.units(LICENCE.format(0)) == 1
    reasons = {(r.record.hour - START, r.record.customer): r.reason for r in ledger.results.values() if r.reason}
    assert reasons == {
        (timedelta(0), LICENCE.format(1)): "InvalidLicenseException",
        # one spelling, Marketplace's, whether Marketplace refused it or the flush did not send it
        (timedelta(hours=-30), LICENCE.format(0)): "TimestampOutOfBoundsException",
    }


def test_a_total_already_stored_is_never_rewritten() -> None:
    marketplace = FakeMarketplace()
    deps = world(usage(1, 10, 5), marketplace=marketplace, now=START + timedelta(hours=1, minutes=6))
    ledger = deps.ledger
    assert isinstance(ledger, InMemoryLedger)
    ledger.write_pending([_record_of(usage(0, 10, 2), START)])  # sealed early (a leaving buyer's final usage)
    run(deps)
    assert marketplace.units(LICENCE.format(0)) == 2


def test_an_hour_over_the_maximum_carries_into_the_next_hour() -> None:
    marketplace = FakeMarketplace()
    events = [usage(1, 10, MAX_INTEGER_QUANTITY), usage(2, 20, 5)]
    deps = world(*events, marketplace=marketplace, now=START + timedelta(hours=2, minutes=6))
    run(deps)
    sent = sorted((r.hour - START, r.quantity) for call in marketplace.calls for r in call)
    assert sent == [(timedelta(0), Decimal(MAX_INTEGER_QUANTITY)), (timedelta(hours=1), Decimal(5))]


def test_a_second_flush_while_one_holds_the_lease_is_skipped() -> None:
    deps = world(usage(1, 10), now=START + timedelta(hours=1, minutes=6))
    ledger = deps.ledger
    assert isinstance(ledger, InMemoryLedger)
    assert ledger.acquire_lease("other", START + timedelta(hours=2), START)
    report = flush(deps, remaining_ms=lambda: 900_000)
    assert report.skipped


def _record_of(event: UsageEvent, hour: datetime) -> MeteringRecord:
    (record,) = aggregate(hour, [event], [PRODUCT])
    return record
