"""Review 23b: write_pending moves the reconciliation's cursor back to a leaving buyer's carry placed in an hour
reconciled already, but only where the cursor is past that hour (``#next > :hour``). A run that is reconciling that
very hour has the cursor AT it: it read the hour's entries before the final-usage step (its own Lambda, on the
lifecycle queue's timer) wrote the placed record, the move back changes nothing, and the run then moves the cursor
past the hour (its condition, ``#next = :seen``, still holds). The placed record is sent and billed, and its hour is
never reconciled with it: billed units no reconciliation ever shows. The fakes and the DynamoDB ledger agree (same
conditions), so this holds for both."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

from functions.flush.audit import AuditDeps, HourReconciled, TrailResult, reconcile_due
from functions.flush.records import MeteringEntry, MeteringRecord, RecordResult
from tests.fakes import InMemoryLedger

LICENCE = "arn:aws:license-manager::1:license:l-abc"


def at(h: int, minutes: int = 0) -> datetime:
    return datetime(2026, 11, 26, h, minutes, tzinfo=UTC)


CARRY = MeteringRecord(
    key=f"p#LICENSE#{LICENCE}#calls",
    hour=at(10),
    product_code="p",
    customer_key=f"LICENSE#{LICENCE}",
    customer_aws_account_id="111122223333",
    dimension="calls",
    quantity=Decimal(1_000_000),
    integer=True,
    license_arn=LICENCE,
)


class Trail:
    def __init__(self) -> None:
        self.results: list[TrailResult] = []

    def metering_results(self, start: datetime, end: datetime | None = None) -> Iterator[TrailResult]:
        return iter([r for r in self.results if r.hour >= start and (end is None or r.event_time < end)])


def test_a_carry_placed_in_the_hour_being_reconciled_is_reconciled() -> None:
    ledger = InMemoryLedger()
    ledger.next_hour = at(14)  # hours up to 13:00 sealed; 10:00 held nothing of this buyer's
    ledger.reconciled = at(10)  # the reconciliation is at 10:00
    trail = Trail()
    raced = False

    def entries_racing_the_final_usage_step(hour: datetime) -> Iterable[MeteringEntry]:
        nonlocal raced
        entries = ledger.entries_of_hour(hour)
        if hour == at(10) and not raced:
            raced = True  # the step places the buyer's carry in 10:00 right after the run read the hour
            ledger.write_pending([CARRY])
        return entries

    reported: list[HourReconciled] = []
    deps = AuditDeps(entries_racing_the_final_usage_step, trail, mark=ledger)
    reconcile_due(deps, at(14, 10), lambda: False, reported.append)
    assert raced

    # the step sends it: Marketplace bills 1,000,000 units for 10:00
    sent_at = at(14, 12)
    ledger.write_results([RecordResult(CARRY, "sent", "mr-1", None, sent_at)])
    trail.results.append(
        TrailResult(LICENCE, "111122223333", "calls", at(10), CARRY.quantity, "Success", "mr-1", sent_at)
    )
    later = AuditDeps(ledger.entries_of_hour, trail, mark=ledger)
    reconcile_due(later, at(16, 10), lambda: False, reported.append)

    # Then hour 10:00 is reconciled once more, with the 1,000,000 units billed in it
    reconciled_after_billing = [r for r in reported[1:] if r.hour == at(10)]
    assert reconciled_after_billing, (
        f"hour 10:00 holds {CARRY.quantity} billed units and was reconciled only before they were written; "
        f"hours reported: {[r.hour.isoformat() for r in reported]}, cursor {ledger.reconciled}"
    )
