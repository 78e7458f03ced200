"""What the flush sends: one hour's sealed total per (product, customer, dimension), what Marketplace answers for
it, and the port the flush sends through (``functions.marketplace.metering`` is BatchMeterUsage's adapter)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
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


# the key a leaving buyer's carry that no hour of theirs could take is parked under: its own, plus this
PARKED_CARRY = "#carried-past-end"


@dataclass(frozen=True)
class RecordOutcome:
    """Marketplace's result for one record of a call."""

    record: MeteringRecord
    status: str  # Success | CustomerNotSubscribed | DuplicateRecord
    metering_record_id: str | None


@dataclass(frozen=True)
class BatchOutcome:
    """Marketplace's answer to one BatchMeterUsage call: each record's result, and the records it left unprocessed."""

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
    """What became of one record: sent, refused for good, or failed with its reason."""

    record: MeteringRecord
    status: str  # sent | not_subscribed | duplicate | failed
    metering_record_id: str | None = None
    reason: str | None = None
    at: datetime | None = None  # when Marketplace answered (CloudTrail shows the call within about 15 minutes)


@dataclass(frozen=True)
class MeteringEntry:
    """A record as the ledger holds it, with its outcome once known."""

    record: MeteringRecord
    status: str  # pending | sent | failed | duplicate | not_subscribed (operators' views: open | unsealed too)
    metering_record_id: str | None = None
    reason: str | None = None
    at: datetime | None = None  # when its outcome came (None: not yet, or stored before outcomes had a time)


# where carried usage was billed instead of its hour: (hour, quantity) each; an hour of None: nowhere (parked)
Placement = list[tuple[datetime | None, Decimal]]


def placed_records(carry: MeteringRecord, placement: Placement) -> list[MeteringRecord]:
    """The records a carry's placement bills: in the earlier hours it went to, and parked where no hour of the buyer's
    could take it (under a key of its own: the buyer, subscribed again under a reused legacy identifier, may have a
    record of that dimension in the carry's hour, which the parked one must not stand in for)."""
    records = []
    for where, quantity in placement:
        record = replace(carry, hour=where or carry.hour, quantity=quantity, allocations=(), events=0)
        records.append(record if where else replace(record, key=record.key + PARKED_CARRY))
    return records


@dataclass(frozen=True)
class ReconciledMark:
    """The oldest hour not reconciled yet (None: reconciliation has not started), as read at ``version``: moving it
    on from this reading fails if it was moved since, or touched (records written in an hour it has reached)."""

    hour: datetime | None
    version: int


@dataclass(frozen=True)
class UnsentMark:
    """Every record of an hour before ``hour`` has its outcome (None: not known, look over the whole window), as
    read at ``version``: moving it on from this reading fails if it was moved since (a redrive moves it back)."""

    hour: datetime | None
    version: int


@dataclass(frozen=True)
class RetentionFloor:
    """How long an hour's usage and records are surely kept, as the flush records it when it seals each hour (an
    item expires by ``audit_retention_days`` as set when it was written: raised later, older hours are gone sooner
    than the setting says): from the hour ``since`` on, none was written to be kept fewer than ``days`` days. None:
    nothing recorded (a ledger an earlier version kept)."""

    since: datetime | None = None
    days: int | None = None


class MeteringLedger(Protocol):
    def next_hour_to_seal(self) -> datetime | None: ...

    def write_pending(self, records: Sequence[MeteringRecord]) -> list[MeteringRecord]:
        """Store the records not stored yet as pending; the records still to send: those, and those stored earlier
        and still pending, as stored. A stored record keeps its total and its outcome (never reset to pending).

        Written outside the hourly sealing (a leaving buyer's final usage, in hours the flush may have passed), so the
        unsent mark is first moved back to the earliest of their hours: if the sender dies or fails, the flush sends
        them, as it sends every pending record from its mark on."""
        ...

    def write_hour(self, hour: datetime, records: Sequence[MeteringRecord]) -> list[MeteringRecord]:
        """``write_pending`` of a whole hour being sealed: the records still to send are also those stored for the
        hour before (by a run that died before sealing it) and still pending, whether or not among ``records``."""
        ...

    def seal(self, hour: datetime, *, dry_run: bool = False) -> bool:
        """Move the cursor past ``hour``; False if another flush already did. ``dry_run``: the hour is sealed in dry
        run, and that is kept with the move (``ReconciliationMark.sealed_in_dry_run``)."""
        ...

    def entries_of_hour(self, hour: datetime) -> list[MeteringEntry]:
        """The hour's records as stored, with their outcomes."""
        ...

    def sealed_in_dry_run(self, hour: datetime) -> bool:
        """The hour was sealed in dry run (``seal``)."""
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
        """What earlier hours carried into ``hour`` (usage over one record's maximum quantity), less what was placed
        elsewhere (``place_carry``)."""
        ...

    def write_carry(self, records: Sequence[MeteringRecord]) -> None:
        """Keep what is carried into each record's hour (a carry kept already stays as it is)."""
        ...

    def consume_carry(self, record: MeteringRecord) -> bool:
        """Its hour's sealing takes the carry in; False if it was placed elsewhere (then it bills it not)."""
        ...

    def place_carry(self, record: MeteringRecord, placement: Placement) -> Placement | None:
        """A leaving buyer's carry billed in earlier hours instead (``placement``): the placement kept (this one, or
        the one an earlier try kept); None if its hour's sealing took it in already."""
        ...

    def placements_into(self, hour: datetime) -> list[tuple[MeteringRecord, Placement]]:
        """The carries into ``hour`` that were placed elsewhere, with where (the operator's reconciliation)."""
        ...

    def reconciled_until(self) -> ReconciledMark:
        """Where the reconciliation is."""
        ...

    def move_reconciled(self, seen: ReconciledMark, to: datetime) -> bool:
        """Every hour before ``to`` is reconciled; False if the mark is no longer ``seen`` (another run moved it,
        or records were written in an hour it had reached: that hour is then reconciled again, with them)."""
        ...

    def acquire_lease(self, owner: str, until: datetime, now: datetime) -> bool: ...

    def release_lease(self, owner: str) -> None: ...
