"""BatchMeterUsage behind our own interface: records in, per-record outcomes out, errors as our exceptions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from functions.usage.model import Allocation, hour_of

# BatchMeterUsage's two caps on one request: 25 records, and a body under 1 MB (1,048,576 bytes; API reference)
MAX_RECORDS_PER_CALL = 25
MAX_REQUEST_BYTES = 1_000_000  # what our records may take, leaving the rest for the request's envelope
RETRYABLE_CODES = frozenset({"ThrottlingException", "InternalServiceErrorException"})


@dataclass(frozen=True)
class MeteringRecord:
    """One hour's sealed total for (product, customer, dimension): sent as is, never changed."""

    key: str  # <product>#<customer key>#<dimension>, unique within the hour
    hour: datetime
    product_code: str
    customer_key: str
    customer_aws_account_id: str
    dimension: str
    quantity: Decimal
    integer: bool
    license_arn: str | None = None
    customer_identifier: str | None = None
    allocations: tuple[Allocation, ...] = ()
    events: int = 0  # how many usage events it totals (audit)

    @property
    def customer(self) -> str:
        """How Marketplace names the customer in its results."""
        return self.license_arn or self.customer_identifier or ""


@dataclass(frozen=True)
class RecordOutcome:
    record: MeteringRecord
    status: str  # Success | CustomerNotSubscribed | DuplicateRecord
    metering_record_id: str | None


@dataclass(frozen=True)
class BatchOutcome:
    outcomes: tuple[RecordOutcome, ...]
    unprocessed: tuple[MeteringRecord, ...]  # Marketplace did not process these: send them again


class MeteringError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class MeteringUnavailable(MeteringError):
    """Throttled, a 5xx or no answer: the same records may be sent again (identical records are idempotent)."""


class BatchRejected(MeteringError):
    """The whole request was refused because of its content (one bad record rejects all of them)."""


class MeteringGateway(Protocol):
    def batch_meter_usage(self, records: Sequence[MeteringRecord]) -> BatchOutcome:
        """Send up to 25 records of one product."""
        ...


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


class Boto3MeteringGateway:
    def __init__(self, client: Any) -> None:
        self._client = client

    def batch_meter_usage(self, records: Sequence[MeteringRecord]) -> BatchOutcome:
        if not records or len(records) > MAX_RECORDS_PER_CALL:
            raise ValueError(f"send 1..{MAX_RECORDS_PER_CALL} records, not {len(records)}")
        request: dict[str, Any] = {"UsageRecords": [usage_record(r) for r in records]}
        if records[0].license_arn is None:  # legacy customers; never together with LicenseArn
            request["ProductCode"] = records[0].product_code
        try:
            response = self._client.batch_meter_usage(**request)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "Unknown")
            message = error.response.get("Error", {}).get("Message", "")
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in RETRYABLE_CODES or status >= 500:
                raise MeteringUnavailable(code, message) from error
            raise BatchRejected(code, message) from error
        except BotoCoreError as error:  # no connection, timeout, response cut off: the outcome is unknown
            raise MeteringUnavailable(type(error).__name__, str(error)) from error
        # Marketplace's own identity of a record: customer, dimension, hour (one batch may span hours)
        by_identity = {(r.customer, r.dimension, r.hour): r for r in records}

        def record_of(usage: dict[str, Any]) -> MeteringRecord:
            customer = usage.get("LicenseArn") or usage.get("CustomerIdentifier") or ""
            return by_identity[(customer, usage["Dimension"], hour_of(usage["Timestamp"]))]

        return BatchOutcome(
            outcomes=tuple(
                RecordOutcome(record_of(r["UsageRecord"]), r["Status"], r.get("MeteringRecordId"))
                for r in response.get("Results", [])
            ),
            unprocessed=tuple(record_of(u) for u in response.get("UnprocessedRecords", [])),
        )
