"""Send parked records again once their cause is fixed, without ever breaking exactly-once.

Only a record Marketplace never accepted goes back, and it goes back unchanged: the same quantity for the same
customer, dimension and hour, unsent again for the next flush. Marketplace bills the first quantity it accepted for
a (customer, dimension, hour) and answers any other with DuplicateRecord, so a record it accepted or refused as a
duplicate is never resent, and one past the metering window can no longer be sent at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from functions.flush.records import MeteringEntry
from functions.flush.service import dry_run_records, window_missed
from operations.queries import OperationsDeps, Selection, parked

# our own reasons for a record that cannot be sent with its quantity (functions.flush.service.unsendable)
_UNSENDABLE = frozenset({"QuantityTooLarge", "QuantityInvalid"})


def refusal(entry: MeteringEntry, now: datetime) -> str | None:
    """Why ``entry`` must not be sent again; None if it may."""
    if entry.status == "duplicate":
        return (
            "DuplicateRecord: Marketplace already holds another quantity for this customer, dimension and hour "
            "and bills that one; resending cannot change the bill"
        )
    if entry.metering_record_id:
        return f"Marketplace accepted it (MeteringRecordId {entry.metering_record_id})"
    if entry.status == "not_subscribed":
        return "CustomerNotSubscribed: Marketplace does not bill usage of an hour the buyer was not subscribed"
    if entry.status != "failed":
        return f"not parked (status {entry.status})"
    if entry.reason == "CarriedPastEnd":
        return (
            "CarriedPastEnd: no hour of the leaving buyer's subscription could take it; sent for the hour after "
            "their end, Marketplace refuses it (CustomerNotSubscribed) or, were they subscribed again, bills it "
            "for their new usage"
        )
    if entry.reason in _UNSENDABLE:
        return f"{entry.reason}: the quantity cannot be sent as it is, and a sealed quantity is never changed"
    if window_missed(entry.record.hour, now):
        return "past Marketplace's 24-hour window (or the month-end cutoff): it can no longer be sent"
    return None


def _sealed_in_dry_run(deps: OperationsDeps, entry: MeteringEntry, sealed_before: datetime | None) -> str | None:
    """Live, a record of an hour sealed (before ``sealed_before``) in dry run is never sent, but for a leaving buyer's
    carry from a live hour (``functions.flush.service.dry_run_records``): requeued, the next flush would answer it
    ``dry_run``."""
    if not deps.settings.bills or sealed_before is None:
        return None
    if not dry_run_records(deps.metering, [entry.record], sealed_before, deps.metering.records_of_hour):
        return None
    return (
        "its hour was sealed in dry run: nothing of it is this stack's to bill, and the next flush would answer it "
        "dry_run; if the buyer owes it, bill it with `cli adjust`"
    )


@dataclass(frozen=True)
class RedriveOutcome:
    entry: MeteringEntry
    outcome: str  # requeued | would_requeue | refused | changed
    why: str = ""


def redrive(deps: OperationsDeps, selection: Selection, *, dry_run: bool = False) -> list[RedriveOutcome]:
    """Requeue every selected parked record that may be sent again; say why for each one that may not.

    The next flush sends the requeued records, oldest hour first, as it sends any pending record.
    """
    now = deps.clock.now()
    sealed_before = deps.metering.next_hour_to_seal()
    outcomes = []
    for entry in parked(deps, selection):
        why = refusal(entry, now) or _sealed_in_dry_run(deps, entry, sealed_before)
        if why is not None:
            outcomes.append(RedriveOutcome(entry, "refused", why))
        elif dry_run:
            outcomes.append(RedriveOutcome(entry, "would_requeue"))
        elif deps.metering.requeue(entry):
            outcomes.append(RedriveOutcome(entry, "requeued"))
        else:
            outcomes.append(
                RedriveOutcome(entry, "changed", "changed meanwhile (another flush or redrive): look again")
            )
    return outcomes
