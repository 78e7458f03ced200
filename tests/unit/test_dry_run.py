"""Dry-run metering on in-memory fakes: the flush does everything but bill, and each call is checked against the
rules Marketplace applies to a whole request, so a dry run parks what live metering would park."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from functions.clock import ManualClock
from functions.flush.dry_run import DryRunMeteringGateway
from functions.flush.records import BatchRejected, MeteringRecord
from functions.flush.sender import Backoff
from functions.flush.service import FlushDeps, flush
from functions.settings import Dimension, Product, Settings
from functions.usage.model import Allocation, UsageEvent
from tests.fakes import InMemoryCustomers, InMemoryLedger, InMemoryUsage

START = datetime(2026, 11, 26, 9, tzinfo=UTC)
PRODUCT = Product(code="p", name="P", dimensions=(Dimension("calls"),))
LICENCE = "arn:aws:license-manager::294406891311:license:l-{}"


def _event(n: int, quantity: int, customer: int) -> UsageEvent:
    moment = START + timedelta(minutes=10)
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


def _record(customer: int, quantity: int = 3, **changes: object) -> MeteringRecord:
    record = MeteringRecord(
        key=f"p#LICENSE#{LICENCE.format(customer)}#calls",
        hour=START,
        product_code="p",
        customer_key=f"LICENSE#{LICENCE.format(customer)}",
        customer_aws_account_id="111122223333",
        dimension="calls",
        quantity=Decimal(quantity),
        integer=True,
        license_arn=LICENCE.format(customer),
    )
    return replace(record, **changes)  # type: ignore[arg-type]


def test_a_dry_run_flush_stores_every_record_as_dry_run_and_counts_none_billed_or_failed() -> None:
    clock = ManualClock(START + timedelta(hours=1, minutes=6))
    usage = InMemoryUsage()
    usage.add([_event(n, n + 1, customer=n) for n in range(30)])
    ledger = InMemoryLedger()
    deps = FlushDeps(
        settings=Settings(products=(PRODUCT,), metering_mode="dry-run"),
        usage=usage,
        ledger=ledger,
        customers=InMemoryCustomers(),
        gateway=DryRunMeteringGateway(clock),
        clock=clock,
        backoff=Backoff(sleep=lambda _: None),
        workers=1,
    )
    report = flush(deps, remaining_ms=lambda: 900_000)
    assert (report.dry_run, report.succeeded, dict(report.failed), report.left_pending) == (30, 0, {}, 0)
    assert {result.status for result in ledger.results.values()} == {"dry_run"}
    assert sum(r.record.quantity for r in ledger.results.values()) == sum(range(1, 31))
    again = flush(deps, remaining_ms=lambda: 900_000)
    assert (again.records_sent, again.dry_run) == (0, 0)


def test_each_record_that_passes_is_answered_dry_run() -> None:
    outcome = DryRunMeteringGateway(ManualClock(START + timedelta(hours=2))).batch_meter_usage([_record(1), _record(2)])
    assert [(o.record.customer_key, o.status, o.metering_record_id) for o in outcome.outcomes] == [
        (f"LICENSE#{LICENCE.format(1)}", "DryRun", None),
        (f"LICENSE#{LICENCE.format(2)}", "DryRun", None),
    ]
    assert outcome.unprocessed == ()


@pytest.mark.parametrize(
    ("records", "code"),
    [
        ([_record(n) for n in range(26)], "ValidationException"),  # 25 records a call at most
        ([_record(1), _record(2, product_code="q")], "ValidationException"),  # one product a call
        (
            [_record(1, allocations=(Allocation((("team", "a"),), Decimal(1)), Allocation((), Decimal(1))))],
            "InvalidUsageAllocationsException",  # 2 allocated of 3
        ),
        (
            [_record(1, allocations=(Allocation((("t", "a"),), Decimal(1)), Allocation((("t", "a"),), Decimal(2))))],
            "InvalidUsageAllocationsException",  # the same tag set twice
        ),
        ([_record(1, hour=START - timedelta(hours=30))], "TimestampOutOfBoundsException"),
        ([_record(1, quantity=2_147_483_648)], "ValidationException"),  # over an integer record's maximum
    ],
)
def test_a_call_marketplace_would_refuse_is_refused(records: list[MeteringRecord], code: str) -> None:
    with pytest.raises(BatchRejected) as refused:
        DryRunMeteringGateway(ManualClock(START + timedelta(hours=2))).batch_meter_usage(records)
    assert refused.value.code == code
