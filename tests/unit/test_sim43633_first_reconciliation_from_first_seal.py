"""Simulator seed 43633 (drawn settings): a new stack whose flushes all died for a day. A run sent hour 19:00 and was
killed before writing Marketplace's answer; the next, a day later, parked the record as too old
(TimestampOutOfBounds) though Marketplace had billed it, and the first reconciliation, which started 24 hours before
itself, never read that hour: the ledger reported billed units as lost. A first reconciliation now starts at the
ledger's first sealed hour too, no further back than CloudTrail's 90 days or the retention."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from functions.flush.audit import AuditDeps, HourReconciled, TrailResult, reconcile_due
from functions.flush.records import MeteringRecord, RecordResult, RetentionFloor
from tests.fakes import InMemoryLedger

LICENCE = "arn:aws:license-manager::1:license:l-abc"
DAY = datetime(2026, 11, 30, tzinfo=UTC)
RECORD = MeteringRecord(
    key=f"p#LICENSE#{LICENCE}#calls",
    hour=DAY + timedelta(hours=19),
    product_code="p",
    customer_key=f"LICENSE#{LICENCE}",
    customer_aws_account_id="111122223333",
    dimension="calls",
    quantity=Decimal(40),
    integer=True,
    license_arn=LICENCE,
)
BILLED = DAY + timedelta(days=1, hours=1, minutes=31)  # Marketplace's answer lost with the run


class Trail:
    def __init__(self, results: list[TrailResult]) -> None:
        self.results = results
        self.starts: list[datetime] = []

    def metering_results(self, start: datetime, end: datetime | None = None) -> Iterator[TrailResult]:
        self.starts.append(start)
        return iter([r for r in self.results if start <= r.event_time and (end is None or r.event_time < end)])


def test_a_record_parked_as_too_old_though_billed_before_the_first_reconciliation_is_found_billed() -> None:
    ledger = InMemoryLedger()
    ledger.seal(RECORD.hour)  # the new stack's first seal
    ledger.write_hour(RECORD.hour, [RECORD])
    # the schedule back a day later: every hour since sealed, the record parked as too old to send
    parked_at = DAY + timedelta(days=2, hours=2, minutes=36)
    for hour in range(20, 24 + 26):
        ledger.seal(DAY + timedelta(hours=hour))
    ledger.write_results([RecordResult(RECORD, "failed", None, "TimestampOutOfBoundsException", parked_at)])
    trail = Trail(
        [TrailResult(LICENCE, "111122223333", "calls", RECORD.hour, RECORD.quantity, "Success", "mr-1", BILLED)]
    )

    reported: list[HourReconciled] = []
    next_run = parked_at + timedelta(hours=1)
    reconcile_due(AuditDeps(ledger.entries_of_hour, trail, mark=ledger), next_run, lambda: False, reported.append)

    assert reported[0].hour == RECORD.hour, f"the first reconciliation started at {reported[0].hour}"
    assert [r.findings for r in reported if r.hour == RECORD.hour] == [[]]
    (entry,) = ledger.entries_of_hour(RECORD.hour)
    assert (entry.status, entry.metering_record_id, entry.record.quantity) == ("sent", "mr-1", Decimal(40))


def first_hour_reconciled(floor: RetentionFloor, now: datetime) -> datetime:
    ledger = InMemoryLedger()
    ledger.floor = floor
    ledger.next_hour = now.replace(minute=0)
    reported: list[HourReconciled] = []
    reconcile_due(AuditDeps(ledger.entries_of_hour, Trail([]), mark=ledger), now, lambda: False, reported.append)
    return reported[0].hour


NOW = datetime(2026, 12, 6, 21, 12, tzinfo=UTC)


def test_a_first_reconciliation_reaches_back_no_further_than_cloudtrail_history() -> None:
    assert first_hour_reconciled(RetentionFloor(NOW - timedelta(days=200)), NOW) == datetime(2026, 9, 7, 22, tzinfo=UTC)


def test_a_first_reconciliation_reaches_back_no_further_than_the_retention() -> None:
    assert first_hour_reconciled(RetentionFloor(NOW - timedelta(days=60), 30), NOW) == datetime(
        2026, 11, 6, 22, tzinfo=UTC
    )


def test_a_first_reconciliation_of_a_stack_sealing_since_today_starts_a_day_back() -> None:
    assert first_hour_reconciled(RetentionFloor(NOW - timedelta(hours=5)), NOW) == datetime(2026, 12, 5, 21, tzinfo=UTC)
    assert first_hour_reconciled(RetentionFloor(), NOW) == datetime(2026, 12, 5, 21, tzinfo=UTC)
