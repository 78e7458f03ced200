"""What AWS received against what we sealed: the reconciliation's rules for sealed records, shared by the operator's
``cli reconcile`` and the flush's hourly check of one settled hour (metric ``ReconciliationMismatches``).

AWS's metering guidance answers "what did AWS receive" from CloudTrail's event history of BatchMeterUsage calls (90
days, event source ``metering-marketplace.amazonaws.com``); it is read through :class:`TrailReader`
(``functions/marketplace/cloudtrail.py`` is its adapter).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from functions.flush.records import MeteringEntry
from functions.usage.model import hour_of

# An hour checked by the flush: closed two hours ago, so the hourly flush has sent it and CloudTrail (which delivers
# within about 15 minutes) shows it
SETTLED_AFTER = timedelta(hours=3)
MARKETPLACE_ANSWER = {"sent": "Success", "duplicate": "DuplicateRecord", "not_subscribed": "CustomerNotSubscribed"}
# the reasons a record is a mismatch
QUANTITY_DIFFERS = "quantity differs"
NOT_YET_SENT = "not yet sent"
FAILED = "failed"
PARKED = "parked"
ABSENT_FROM_CLOUDTRAIL = "sent but absent from CloudTrail"
UNKNOWN_TO_LEDGER = "in CloudTrail but not in our ledger"


@dataclass(frozen=True)
class TrailResult:
    """One usage record's result in a BatchMeterUsage call CloudTrail logged."""

    customer: str  # licence ARN or legacy customer identifier, as the record named the customer
    customer_aws_account_id: str | None
    dimension: str
    hour: datetime
    quantity: Decimal
    status: str  # Success | CustomerNotSubscribed | DuplicateRecord
    metering_record_id: str | None
    event_time: datetime
    product_code: str | None = None  # only when the call named it (legacy customers)


class TrailUnavailable(Exception):
    """CloudTrail could not be read (no permission, throttled past retries, unreachable)."""


class TrailReader(Protocol):
    def metering_results(self, start: datetime) -> Iterator[TrailResult]:
        """Every record result of the BatchMeterUsage calls CloudTrail logged from ``start`` until now."""
        ...


def quantity_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def trail_of(entry: MeteringEntry, results: Iterable[TrailResult]) -> tuple[list[TrailResult], list[TrailResult]]:
    """CloudTrail's Success results for the entry's customer, dimension and hour; and those of its own
    MeteringRecordId (the same record sent twice, a lost answer say, has one id)."""
    record = entry.record
    billed = [
        r
        for r in results
        if r.status == "Success"
        and (r.customer, r.dimension, r.hour) == (record.customer, record.dimension, record.hour)
    ]
    own = [
        r for r in billed if entry.metering_record_id is not None and r.metering_record_id == entry.metering_record_id
    ]
    return billed, own


def sealed_mismatch(
    entry: MeteringEntry, billed: list[TrailResult], own: list[TrailResult], checked: bool
) -> tuple[str | None, str | None]:
    """Why a sealed record disagrees with Marketplace or CloudTrail (the reason kind and its words), or (None, None).
    ``checked``: CloudTrail was read for its hour."""
    sealed = entry.record.quantity
    if entry.status == "pending":
        return NOT_YET_SENT, "sealed, waiting for the flush to send it"
    if entry.status == "failed":
        return FAILED, f"never billed: {entry.reason or 'failed'}"
    if entry.status in ("duplicate", "not_subscribed"):
        answer = MARKETPLACE_ANSWER[entry.status]
        return PARKED, f"Marketplace answered {answer}" + (f" ({entry.reason})" if entry.reason else "")
    if entry.status != "sent" or not checked:
        return None, None  # dry_run: stored, never billed, by design (metering_mode dry-run)
    if not billed:
        return ABSENT_FROM_CLOUDTRAIL, (
            f"Marketplace answered Success ({entry.metering_record_id}) but CloudTrail shows no such result "
            "(CloudTrail delivers within about 15 minutes: if it was just sent, run again later)"
        )
    shown = (own or billed)[0]
    if shown.quantity != sealed:
        return (
            QUANTITY_DIFFERS,
            f"sealed {quantity_text(sealed)} units, CloudTrail shows {quantity_text(shown.quantity)}",
        )
    return None, None


@dataclass(frozen=True)
class Finding:
    hour: datetime
    customer: str
    dimension: str
    kind: str
    detail: str


@dataclass(frozen=True)
class AuditDeps:
    entries_of_hour: Callable[[datetime], Iterable[MeteringEntry]]
    trail: TrailReader
    # whether a result CloudTrail shows names one of our customers: the seller may meter other products from the
    # same account and Region, outside this stack, and those are not ours to reconcile
    ours: Callable[[TrailResult], bool] = lambda result: True


def settled_hour(now: datetime) -> datetime:
    return hour_of(now - SETTLED_AFTER)


def audit_hour(deps: AuditDeps, hour: datetime) -> list[Finding]:
    """Every sealed record of ``hour`` against CloudTrail, and every result CloudTrail shows AWS billed for that hour
    that no record of ours accounts for. (Usage accepted after its hour was sealed is counted by the flush itself,
    ``SealedTotalMismatch``.)"""
    entries = list(deps.entries_of_hour(hour))
    results = [r for r in deps.trail.metering_results(hour) if r.hour == hour]
    findings: list[Finding] = []
    accounted: set[int] = set()
    for entry in sorted(entries, key=lambda e: e.record.key):
        billed, own = trail_of(entry, results)
        accounted.update(id(r) for r in billed)
        kind, detail = sealed_mismatch(entry, billed, own, checked=True)
        if kind is not None:
            findings.append(Finding(hour, entry.record.customer, entry.record.dimension, kind, detail or ""))
    for result in results:
        if result.status == "Success" and id(result) not in accounted and deps.ours(result):
            what = f"AWS billed {quantity_text(result.quantity)} units that no record of ours accounts for"
            findings.append(Finding(hour, result.customer, result.dimension, UNKNOWN_TO_LEDGER, what))
    return findings
