"""The metering ledger as an operator sees it: each sealed hour's records with their outcome, and the one write an
operator may make, making a parked record unsent again, unchanged (``functions.flush.ledger`` does both)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, Protocol

from functions.flush.ledger import DynamoMeteringLedger
from functions.flush.records import MeteringEntry, MeteringRecord, Placement, RetentionFloor

# what the flush writes once Marketplace (or the flush itself) has decided a record's fate
PARKED_STATUSES = frozenset({"failed", "duplicate", "not_subscribed"})


class LedgerReads(Protocol):
    """What ``LedgerView`` reads of a ledger (``functions.flush.ledger.DynamoMeteringLedger``, or a simulated one)."""

    def next_hour_to_seal(self) -> datetime | None: ...

    def entries_of_hour(self, hour: datetime) -> list[MeteringEntry]: ...

    def carried_into(self, hour: datetime) -> list[MeteringRecord]: ...

    def placements_into(self, hour: datetime) -> list[tuple[MeteringRecord, Placement]]: ...

    def retention_floor(self) -> RetentionFloor: ...

    def sealed_in_dry_run(self, hour: datetime) -> bool: ...

    def modes_kept_since(self) -> datetime | None: ...


class LedgerView:
    """The ledger's hours as ``cli reconcile`` reads them: each sealed hour's records, and the carries between hours."""

    def __init__(self, ledger: LedgerReads) -> None:
        self._reads = ledger

    def next_hour_to_seal(self) -> datetime | None:
        return self._reads.next_hour_to_seal()

    def retention_floor(self) -> RetentionFloor:
        return self._reads.retention_floor()

    def records_of_hour(self, hour: datetime) -> Iterator[MeteringEntry]:
        return iter(self._reads.entries_of_hour(hour))

    def sealed_in_dry_run(self, hour: datetime) -> bool:
        return self._reads.sealed_in_dry_run(hour)

    def modes_kept_since(self) -> datetime | None:
        return self._reads.modes_kept_since()

    def carried_into(self, hour: datetime) -> list[MeteringRecord]:
        return self._reads.carried_into(hour)

    def placements_into(self, hour: datetime) -> list[tuple[MeteringRecord, Placement]]:
        return self._reads.placements_into(hour)


class DynamoMeteringView(LedgerView):
    def __init__(self, client: Any, table_name: str) -> None:
        self._ledger = DynamoMeteringLedger(client, table_name, retention=timedelta(0))  # retention shapes writes
        super().__init__(self._ledger)

    def pending_count(self) -> int:
        return sum(1 for _ in self._ledger.pending(self._ledger.unsent_mark()))

    def requeue(self, entry: MeteringEntry) -> bool:
        """Make a parked record unsent again, its quantity untouched; False if it is no longer the parked record the
        operator saw (another flush or redrive changed it meanwhile)."""
        return self._ledger.requeue(entry)
