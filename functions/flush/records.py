"""What the flush sends: one hour's sealed total per (product, customer, dimension), what Marketplace answers for
it, and the port the flush sends through (``functions.marketplace.metering`` is BatchMeterUsage's adapter)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from functions.usage.model import Allocation


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


@dataclass(frozen=True)
class RecordResult:
    record: MeteringRecord
    status: str  # sent | not_subscribed | duplicate | failed
    metering_record_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class MeteringEntry:
    """A record as the ledger holds it, with its outcome once known."""

    record: MeteringRecord
    status: str  # pending | sent | failed | duplicate | not_subscribed (operators' views: open | unsealed too)
    metering_record_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class UnsentMark:
    """Every record of an hour before ``hour`` has its outcome (None: not known, look over the whole window), as
    read at ``version``: moving it on from this reading fails if it was moved since (a redrive moves it back)."""

    hour: datetime | None
    version: int


class MeteringLedger(Protocol):
    def next_hour_to_seal(self) -> datetime | None: ...

    def write_pending(self, records: Sequence[MeteringRecord]) -> list[MeteringRecord]:
        """Store the records not stored yet as pending; the records still to send: those, and those stored earlier
        and still pending, as stored. A stored record keeps its total and its outcome (never reset to pending)."""
        ...

    def seal(self, hour: datetime) -> bool:
        """Move the cursor past ``hour``; False if another flush already did."""
        ...

    def unsent_mark(self) -> UnsentMark: ...

    def pending(self, mark: UnsentMark) -> Iterator[MeteringRecord]:
        """Unsent records of the sealed hours from ``mark`` on, oldest hour first."""
        ...

    def move_unsent_mark(self, mark: UnsentMark, hour: datetime) -> bool:
        """Every record of the hours before ``hour`` has its outcome; False if the mark moved since ``mark`` was read
        (then it stays where it is, and the next run looks from there)."""
        ...

    def write_results(self, results: Sequence[RecordResult]) -> None: ...

    def carried_into(self, hour: datetime) -> list[MeteringRecord]:
        """What earlier hours carried into ``hour`` (usage over one record's maximum quantity)."""
        ...

    def write_carry(self, records: Sequence[MeteringRecord]) -> None:
        """Keep what is carried into each record's hour (the same records again change nothing)."""
        ...

    def acquire_lease(self, owner: str, until: datetime, now: datetime) -> bool: ...

    def release_lease(self, owner: str) -> None: ...
