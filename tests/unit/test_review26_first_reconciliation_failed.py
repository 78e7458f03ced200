"""Review 26 (simulator seed 73670): a new stack's first reconciliation starts with the hours Marketplace may still
bill (the last 24). When that first run could not read CloudTrail, and the next ran more than a day later (the
schedule out for 26 hours, only an on-demand flush in between), the next started 24 hours before itself: the hours
between the first attempt and that start, billed meanwhile, were never reconciled."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from functions.flush.audit import AuditDeps, HourReconciled, TrailResult, TrailUnavailable, reconcile_due
from functions.flush.records import MeteringRecord, RecordResult
from tests.fakes import InMemoryLedger

LICENCE = "arn:aws:license-manager::1:license:l-abc"
DAY = datetime(2026, 11, 24, tzinfo=UTC)
RECORD = MeteringRecord(
    key=f"p#LICENSE#{LICENCE}#calls",
    hour=DAY + timedelta(hours=5),
    product_code="p",
    customer_key=f"LICENSE#{LICENCE}",
    customer_aws_account_id="111122223333",
    dimension="calls",
    quantity=Decimal(49),
    integer=True,
    license_arn=LICENCE,
)
SENT = DAY + timedelta(hours=6, minutes=27)


class Trail:
    def __init__(self, results: list[TrailResult]) -> None:
        self.results = results

    def metering_results(self, start: datetime, end: datetime | None = None) -> Iterator[TrailResult]:
        return iter([r for r in self.results if r.hour >= start and (end is None or r.event_time < end)])


class Unreadable:
    def metering_results(self, start: datetime, end: datetime | None = None) -> Iterator[TrailResult]:
        raise TrailUnavailable("cloudtrail:LookupEvents: throttled")


def test_hours_billed_after_a_failed_first_reconciliation_are_reconciled_by_a_run_a_day_later() -> None:
    ledger = InMemoryLedger()
    ledger.next_hour = DAY + timedelta(hours=6)  # sealed up to 05:00, whose 49 units are billed at 06:27
    ledger.write_pending([RECORD])
    ledger.write_results([RecordResult(RECORD, "sent", "mr-1", None, SENT)])
    with pytest.raises(TrailUnavailable):
        reconcile_due(AuditDeps(ledger.entries_of_hour, Unreadable(), mark=ledger), SENT, lambda: False)

    # the schedule back 26 hours later: every hour since sealed, CloudTrail readable
    later = DAY + timedelta(days=1, hours=6, minutes=12)
    ledger.next_hour = later.replace(minute=0)
    trail = Trail(
        [TrailResult(LICENCE, "111122223333", "calls", RECORD.hour, RECORD.quantity, "Success", "mr-1", SENT)]
    )
    reported: list[HourReconciled] = []
    reconcile_due(AuditDeps(ledger.entries_of_hour, trail, mark=ledger), later, lambda: False, reported.append)

    reconciled = [r.hour for r in reported]
    assert RECORD.hour in reconciled, f"hour 05:00 (49 units billed) never reconciled; reconciled from {reconciled[0]}"
    assert [r.findings for r in reported if r.hour == RECORD.hour] == [[]]
