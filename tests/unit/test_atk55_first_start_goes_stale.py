"""Attack 55 on 5be27d6 (since, the first start is set by the live flush, ``begin_reconciliation``; a stalled mark
at the edge of what is kept shows the same). A first reconciliation's start is put at the very edge of what is still
readable (``hour_of(now - kept) + HOUR``: the retention's, or CloudTrail's 90 days) and written to the mark before
anything is read, so that a first run that fails keeps it. But it is bounded only when it is first computed: the
next run (the next hourly flush) starts from the stored mark without bounding it again, and by then that hour is
already out of reach.

- Retention: an hour's records expire at ``hour + audit_retention_days``; the start hour's expire within the hour after
  the first run. A first run that could not read CloudTrail (or had no time left after the flush) leaves the start to
  the next run, an hour later, which reads that hour with its records gone and reports what CloudTrail shows billed
  in it as "in CloudTrail but not in our ledger" (ReconciliationMismatches alarm): the very thing ``_first_hour`` says
  it keeps from happening.
- CloudTrail: with the default retention (400 days) the start is the first hour within CloudTrail's 90 days; the next
  run asks CloudTrail for an hour more than 90 days back, and reports the hour's sent records, whose calls CloudTrail
  no longer holds, as "sent but absent from CloudTrail".

With the earlier start (24 hours back, a retention of at least 2 days) a failed first run had a day of margin; here it
has less than an hour."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from functions.flush.audit import (
    ABSENT_FROM_CLOUDTRAIL,
    CLOUDTRAIL_HISTORY,
    AuditDeps,
    HourReconciled,
    TrailResult,
    reconcile_due,
)
from functions.flush.records import MeteringEntry, MeteringRecord, RecordResult, RetentionFloor
from functions.usage.model import HOUR, hour_of
from tests.fakes import InMemoryLedger

LICENCE = "arn:aws:license-manager::1:license:l-abc"
NOW = datetime(2026, 12, 6, 21, 12, tzinfo=UTC)  # the first reconciliation ever
NEXT_RUN = NOW + HOUR  # the next hourly flush


def record(hour: datetime, units: int) -> MeteringRecord:
    return MeteringRecord(
        key=f"p#LICENSE#{LICENCE}#calls",
        hour=hour,
        product_code="p",
        customer_key=f"LICENSE#{LICENCE}",
        customer_aws_account_id="111122223333",
        dimension="calls",
        quantity=Decimal(units),
        integer=True,
        license_arn=LICENCE,
    )


class Trail:
    """CloudTrail's event history: only the last 90 days of it, as of ``now()``."""

    def __init__(self, results: list[TrailResult], now: Callable[[], datetime]) -> None:
        self.results = results
        self.now = now
        self.starts: list[datetime] = []

    def metering_results(self, start: datetime, end: datetime | None = None) -> Iterator[TrailResult]:
        self.starts.append(start)
        kept_from = self.now() - CLOUDTRAIL_HISTORY
        return iter(
            [r for r in self.results if r.event_time >= max(start, kept_from) and (end is None or r.event_time <= end)]
        )


def stack(floor: RetentionFloor, hours: list[datetime]) -> tuple[InMemoryLedger, list[TrailResult]]:
    """A stack sealed up to NEXT_RUN's hour, never reconciled; ``hours`` each hold a record sent and billed."""
    ledger = InMemoryLedger()
    ledger.floor = floor
    ledger.next_hour = hour_of(NEXT_RUN)
    billed = []
    for number, hour in enumerate(hours):
        sent = record(hour, 10 + number)
        answered = hour + timedelta(hours=1, minutes=5)
        ledger.write_hour(hour, [sent])
        ledger.write_results([RecordResult(sent, "sent", f"mr-{number}", None, answered)])
        billed.append(
            TrailResult(LICENCE, "111122223333", "calls", hour, sent.quantity, "Success", f"mr-{number}", answered)
        )
    return ledger, billed


def test_a_run_reads_no_hour_whose_records_expired() -> None:
    days = 3  # audit_retention_days (2 to 3650 allowed)
    start = datetime(2026, 12, 3, 22, tzinfo=UTC)  # hour_of(NOW - 3 days) + 1 hour: its records expire 12-06 22:00
    ledger, billed = stack(RetentionFloor(hour_of(NOW - timedelta(days=5)), days), [start, start + HOUR])
    ledger.reconciled = start  # where the reconciliation stands, at the edge of what is kept (it failed since)

    def entries_kept(hour: datetime) -> list[MeteringEntry]:  # DynamoDB's TTL: expires_at = hour + retention
        return [] if hour + timedelta(days=days) <= NEXT_RUN else ledger.entries_of_hour(hour)

    reported: list[HourReconciled] = []
    trail = Trail(billed, lambda: NEXT_RUN)
    reconcile_due(AuditDeps(entries_kept, trail, mark=ledger), NEXT_RUN, lambda: False, reported.append)

    findings = [(r.hour, f.kind) for r in reported for f in r.findings]
    assert findings == [], (
        f"the next run (12-06 22:12) reconciled from {reported[0].hour:%m-%d %H:%M}, whose records expired at 22:00: "
        f"{findings}"
    )


def test_a_run_asks_cloudtrail_for_no_more_than_90_days() -> None:
    start = datetime(2026, 9, 7, 22, tzinfo=UTC)  # hour_of(NOW - 90 days) + 1 hour
    ledger, billed = stack(RetentionFloor(hour_of(NOW - timedelta(days=120)), 400), [start, start + HOUR])
    ledger.reconciled = start  # where the reconciliation stands, at the edge of what is kept (it failed since)

    trail = Trail(billed, lambda: NEXT_RUN)
    reconcile_due(AuditDeps(ledger.entries_of_hour, trail, mark=ledger), NEXT_RUN, lambda: False)

    assert trail.starts[0] >= NEXT_RUN - CLOUDTRAIL_HISTORY, (
        f"asked CloudTrail from {trail.starts[0]:%Y-%m-%d %H:%M}, "
        f"before its 90 days ({NEXT_RUN - CLOUDTRAIL_HISTORY:%Y-%m-%d %H:%M})"
    )


def test_a_run_two_hours_after_one_that_failed_reports_no_sent_record_absent_from_cloudtrail() -> None:
    """The run between reconciled nothing (it continued a backlog, or found the lease held: run.py reconciles only
    in a run that neither skipped nor continued): the start hour's call, logged at 23:05, left CloudTrail's 90 days at
    23:05 today; the run at 23:12 still starts there and reports its record, billed, as absent."""
    start = datetime(2026, 9, 7, 22, tzinfo=UTC)  # hour_of(NOW - 90 days) + 1 hour
    ledger, billed = stack(RetentionFloor(hour_of(NOW - timedelta(days=120)), 400), [start, start + HOUR])
    ledger.reconciled = start
    later = NOW + 2 * HOUR
    ledger.next_hour = hour_of(later)

    reported: list[HourReconciled] = []
    trail = Trail(billed, lambda: later)
    reconcile_due(AuditDeps(ledger.entries_of_hour, trail, mark=ledger), later, lambda: False, reported.append)

    absent = [r.hour for r in reported for f in r.findings if f.kind == ABSENT_FROM_CLOUDTRAIL]
    assert absent == [], f"billed records of {absent} reported sent but absent from CloudTrail"
