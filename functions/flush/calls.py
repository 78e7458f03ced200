"""BatchMeterUsage calls as the flush packs them: a record as it is written in the request (what botocore sends),
and calls under both of the operation's caps (25 records, and a body under 1 MB)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from functions.flush.records import MeteringRecord
from functions.usage.model import Allocation

# BatchMeterUsage's two caps on one request: 25 records, and a body under 1 MB (1,048,576 bytes; API reference)
MAX_RECORDS_PER_CALL = 25
MAX_REQUEST_BYTES = 1_000_000  # what our records may take, leaving the rest for the request's envelope


def usage_record(record: MeteringRecord) -> dict[str, Any]:
    usage: dict[str, Any] = {"Timestamp": record.hour, "Dimension": record.dimension}
    if record.license_arn is not None:
        usage["CustomerAWSAccountId"] = record.customer_aws_account_id
        usage["LicenseArn"] = record.license_arn
    else:
        usage["CustomerIdentifier"] = record.customer_identifier
    if record.integer:
        usage["Quantity"] = int(record.quantity)
    else:
        usage["QuantityAsDecimal"] = _decimal_text(record.quantity)
    if record.allocations:
        usage["UsageAllocations"] = [_allocation(a, record.integer) for a in record.allocations]
    return usage


def _allocation(allocation: Allocation, integer: bool) -> dict[str, Any]:
    quantity: dict[str, Any] = (
        {"AllocatedUsageQuantity": int(allocation.quantity)}
        if integer
        else {"AllocatedUsageQuantityAsDecimal": _decimal_text(allocation.quantity)}
    )
    tags = [{"Key": k, "Value": v} for k, v in allocation.tags]
    return {**quantity, "Tags": tags} if tags else quantity


def allocation_bytes(allocation: Allocation, integer: bool) -> int:
    """An allocation's size in the request body, as botocore writes it."""
    return len(json.dumps(_allocation(allocation, integer))) + 2  # ", "


def record_bytes(record: MeteringRecord) -> int:
    """The record's size in the request body, as botocore writes it (``json.dumps``, epoch-seconds timestamps)."""
    return len(json.dumps(usage_record(record), default=lambda moment: moment.timestamp())) + 2  # ", "


class CallPacker:
    """Packs records of one product, in order, into calls under both of BatchMeterUsage's caps."""

    def __init__(self) -> None:
        self._open: list[MeteringRecord] = []
        self._size = 0

    def add(self, record: MeteringRecord) -> list[list[MeteringRecord]]:
        """The calls this record closes (none, one, or two when it fills the call it opens)."""
        closed = []
        length = record_bytes(record)
        if self._open and self._size + length > MAX_REQUEST_BYTES:
            closed.append(self.rest())
        self._open.append(record)
        self._size += length
        if len(self._open) == MAX_RECORDS_PER_CALL:
            closed.append(self.rest())
        return closed

    def rest(self) -> list[MeteringRecord]:
        """The call still open (maybe empty), closed."""
        call, self._open, self._size = self._open, [], 0
        return call


def batches(records: Sequence[MeteringRecord]) -> list[list[MeteringRecord]]:
    """``records`` (of one product) in calls under both of BatchMeterUsage's caps, in order."""
    packer = CallPacker()
    calls = [call for record in records for call in packer.add(record)]
    last = packer.rest()
    return [*calls, last] if last else calls


def _decimal_text(quantity: Decimal) -> str:
    text = format(quantity.normalize(), "f")
    return text if text != "-0" else "0"
