"""Metering that never bills: what a non-production stage sends instead of BatchMeterUsage (``metering_mode:
dry-run``). Each call is checked against the rules Marketplace applies to a whole request (record count, body size,
one product, each record's window, quantity and allocations) and refused as Marketplace would refuse it, so a dry run
parks what live metering would park; every record that passes is answered ``DryRun``: stored, never billed.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from functions.clock import Clock
from functions.flush.aggregate import MAX_ALLOCATIONS_PER_RECORD
from functions.flush.calls import MAX_RECORDS_PER_CALL, MAX_REQUEST_BYTES, record_bytes
from functions.flush.records import BatchOutcome, BatchRejected, MeteringRecord, RecordOutcome
from functions.flush.service import unsendable, window_missed

DRY_RUN_STATUS = "DryRun"


class DryRunMeteringGateway:
    """``functions.flush.records.MeteringGateway`` that calls nothing."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def batch_meter_usage(self, records: Sequence[MeteringRecord]) -> BatchOutcome:
        if not records or len(records) > MAX_RECORDS_PER_CALL:
            raise BatchRejected("ValidationException", f"UsageRecords holds {len(records)} records: 1 to 25")
        if len({r.product_code for r in records}) > 1:
            raise BatchRejected("ValidationException", "one call meters one product")
        if sum(record_bytes(r) for r in records) > MAX_REQUEST_BYTES:
            raise BatchRejected("ValidationException", "the request body is over 1 MB")
        now = self._clock.now()
        for record in records:
            if window_missed(record.hour, now):
                raise BatchRejected("TimestampOutOfBoundsException", f"{record.key}: outside the metering window")
            if reason := unsendable(record):
                raise BatchRejected("ValidationException", f"{record.key}: {reason}")
            if record.allocations:
                _check_allocations(record)
        return BatchOutcome(outcomes=tuple(RecordOutcome(r, DRY_RUN_STATUS, None) for r in records), unprocessed=())


def _check_allocations(record: MeteringRecord) -> None:
    allocations = record.allocations
    if len(allocations) > MAX_ALLOCATIONS_PER_RECORD:
        raise BatchRejected("InvalidUsageAllocationsException", f"{record.key}: over {MAX_ALLOCATIONS_PER_RECORD}")
    tag_sets = [a.tags for a in allocations]
    if len(set(tag_sets)) != len(tag_sets):
        raise BatchRejected("InvalidUsageAllocationsException", f"{record.key}: a tag set allocated twice")
    if sum((a.quantity for a in allocations), Decimal(0)) != record.quantity:
        raise BatchRejected("InvalidUsageAllocationsException", f"{record.key}: allocations do not add up")
