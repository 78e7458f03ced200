"""What AWS received against what we sealed: the reconciliation's rules for sealed records, shared by the operator's
``cli reconcile`` and the flush's reconciliation of every settled hour, once, oldest first (``reconcile_due``; metrics
``ReconciliationMismatches`` and ``ReconciliationHoursBehind``).

AWS's metering guidance answers "what did AWS receive" from CloudTrail's event history of BatchMeterUsage calls (90
days, event source ``metering-marketplace.amazonaws.com``); it is read through :class:`TrailReader`
(``functions/marketplace/cloudtrail.py`` is its adapter).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from functions.customers.model import CustomerRef
from functions.flush.records import (
    PARKED_CARRY,
    MeteringEntry,
    MeteringRecord,
    Placement,
    ReconciledMark,
    RecordResult,
    RetentionFloor,
)
from functions.usage.model import HOUR, hour_of

# An hour is reconciled by the flush once it closed two hours ago (the hourly flush has sent it), every record of it
# has Marketplace's answer, and the last answer came long enough ago for CloudTrail (which delivers within about 15
# minutes) to show it
SETTLED_AFTER = timedelta(hours=3)
CLOUDTRAIL_DELIVERY = timedelta(minutes=20)
# how far back a reconciliation starts from when it begins: every hour whose records Marketplace may still take
RECONCILE_FIRST = timedelta(hours=24)
CLOUDTRAIL_HISTORY = timedelta(days=90)
# CloudTrail is read for this many hours at a time (LookupEvents pages 50 events, at 2 lookups a second: a run far
# behind must not read them all before it reconciles an hour), and as long after them as an hour's
# records may be billed (Marketplace takes a record up to 24 hours after its hour: marketplace-api.md), an hour spare
TRAIL_WINDOW = timedelta(hours=6)
TRAIL_LOOKAHEAD = timedelta(hours=26)
# how many results are read between two looks at the clock
TRAIL_RESULTS_BETWEEN_CHECKS = 500
MARKETPLACE_ANSWER = {"sent": "Success", "duplicate": "DuplicateRecord", "not_subscribed": "CustomerNotSubscribed"}
# the reasons a record is a mismatch
QUANTITY_DIFFERS = "quantity differs"
NOT_YET_SENT = "not yet sent"
FAILED = "failed"
PARKED = "parked"
ABSENT_FROM_CLOUDTRAIL = "sent but absent from CloudTrail"
ACCEPTED_NOT_SEALED = "accepted, not in its sealed total"
BILLED_AFTER_ALL = "billed after all"
UNKNOWN_TO_LEDGER = "in CloudTrail but not in our ledger"
ANSWERED_IN_DRY_RUN = "answered in dry run, its hour sealed live"


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


@dataclass(frozen=True)
class Unreadable:
    """A record result CloudTrail logged (or a whole logged call) that could not be read: the reconciliation cannot
    check it, so it is counted and shown, never silently dropped. ``why`` names what was missing or malformed, never
    the values."""

    event_id: str | None
    why: str


# where a reader of CloudTrail reports what it could not read
UnreadableSink = Callable[[Unreadable], None]


def customer_of(result: TrailResult, products: Sequence[str]) -> CustomerRef | None:
    """The customer a CloudTrail result names, as this stack would keep them, or None where it names a product that is
    not ours: a legacy result names its product and identifier; a licence alone names a customer (whatever product the
    licence is of: the key is the licence's), ours to look up only if this stack meters a product at all."""
    if result.product_code is not None:
        if result.product_code not in products:
            return None
        return CustomerRef(result.product_code, customer_identifier=result.customer)
    return CustomerRef(products[0], license_arn=result.customer) if products else None


def ours_by(products: Sequence[str], known: Callable[[CustomerRef], bool]) -> Callable[[TrailResult], bool]:
    """Whether a result CloudTrail shows is one of our customers' (``known``: the customer is in our customers table):
    the seller may meter other products from the same account and Region outside this stack, and those are neither
    ours to reconcile nor to show. The one rule the flush's reconciliation, ``cli reconcile`` and ``cli report``
    share."""

    def ours(result: TrailResult) -> bool:
        ref = customer_of(result, products)
        return ref is not None and known(ref)

    return ours


class TrailUnavailable(Exception):
    """CloudTrail could not be read (no permission, throttled past retries, unreachable)."""


class TrailReader(Protocol):
    def metering_results(self, start: datetime, end: datetime | None = None) -> Iterator[TrailResult]:
        """Every record result of the BatchMeterUsage calls CloudTrail logged from ``start`` until ``end`` (None:
        until now)."""
        ...


def quantity_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def once_each(results: Iterable[TrailResult]) -> list[TrailResult]:
    """Each billing once. Marketplace bills one record per customer, dimension and hour (of a product): the same record
    sent again (a retry after a lost answer, ours or anyone's) is answered with its first MeteringRecordId, another
    with DuplicateRecord; but CloudTrail logs every call, so one billing can show as several Success results (review
    28: another sender's retry was refunded twice), and an entry without its id, or under another (review 29), is no
    second billing either. The first Success of each is kept; results of other statuses are kept as they are."""
    kept: list[TrailResult] = []
    billed: set[tuple[str | None, str, str, datetime]] = set()
    for result in results:
        if result.status == "Success":
            key = (result.product_code, result.customer, result.dimension, result.hour)
            if key in billed:
                continue
            billed.add(key)
        kept.append(result)
    return kept


def trail_of(entry: MeteringEntry, results: Iterable[TrailResult]) -> tuple[list[TrailResult], list[TrailResult]]:
    """CloudTrail's Success results for the entry's customer, dimension and hour; and those of its own
    MeteringRecordId (the same record sent twice, a lost answer say, has one id). A parked carry is never sent: a
    result for its customer, dimension and hour is another record's (the buyer's, subscribed again), not its."""
    record = entry.record
    if record.key.endswith(PARKED_CARRY):
        return [], []
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
    entry: MeteringEntry, billed: list[TrailResult], own: list[TrailResult], checked: bool, *, sealed_live: bool = False
) -> tuple[str | None, str | None]:
    """Why a sealed record disagrees with Marketplace or CloudTrail (the reason kind and its words), or (None, None).
    ``checked``: CloudTrail was read for its hour; ``sealed_live``: its hour is known to be sealed live
    (``known_sealed_live``)."""
    sealed = entry.record.quantity
    if entry.status == "pending":
        return NOT_YET_SENT, "sealed, waiting for the flush to send it"
    if (shown := billed_after_all(entry, billed)) is not None:
        return BILLED_AFTER_ALL, (
            f"parked as {entry.reason or entry.status}, but CloudTrail shows it billed ({shown.metering_record_id}): "
            "its first send was committed, its answer lost; the flush's reconciliation corrects the ledger"
        )
    if entry.status == "failed":
        return FAILED, f"never billed: {entry.reason or 'failed'}"
    if entry.status in ("duplicate", "not_subscribed"):
        answer = MARKETPLACE_ANSWER[entry.status]
        return PARKED, f"Marketplace answered {answer}" + (f" ({entry.reason})" if entry.reason else "")
    if entry.status == "dry_run" and sealed_live and checked:
        return ANSWERED_IN_DRY_RUN, answered_in_dry_run(billed)
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


def answered_in_dry_run(billed: list[TrailResult]) -> str:
    """A record of an hour sealed live that a dry run answered: the stack switched to dry run (an emergency stop)
    before it was sent, or after a send whose answer was lost; or a leaving buyer's final usage answered in a
    rehearsal, its hour then sealed live at go-live. Reported, never rewritten: CloudTrail does not tell this stack's
    call from another integration's billing the same hour."""
    if not billed:
        return "answered DryRun in an hour sealed live: never billed by this stack"
    shown = billed[0]
    return (
        f"answered DryRun in an hour sealed live, but CloudTrail shows {quantity_text(shown.quantity)} units "
        f"billed ({shown.metering_record_id}): this stack's send before the switch, its answer lost, or another "
        "integration's"
    )


def billed_after_all(entry: MeteringEntry, billed: list[TrailResult]) -> TrailResult | None:
    """A record parked when sent again (the customer had left, its hour was out of the window) whose first send
    Marketplace had committed, its answer lost: CloudTrail shows it billed, as sealed."""
    if entry.status not in ("not_subscribed", "failed"):
        return None
    return next((r for r in billed if r.quantity == entry.record.quantity), None)


@dataclass(frozen=True)
class Finding:
    """One disagreement between the ledger and CloudTrail in an hour, and why."""

    hour: datetime
    customer: str
    dimension: str
    kind: str
    detail: str


class CarryReader(Protocol):
    def carried_into(self, hour: datetime) -> list[MeteringRecord]: ...

    def placements_into(self, hour: datetime) -> list[tuple[MeteringRecord, Placement]]: ...


class ReconciliationStart(Protocol):
    """Where the reconciliation is (the metering ledger keeps it)."""

    def reconciled_until(self) -> ReconciledMark: ...

    def move_reconciled(self, seen: ReconciledMark, to: datetime) -> bool: ...


class ReconciliationMark(CarryReader, ReconciliationStart, Protocol):
    """Where the reconciliation is, which hours are sealed, and the outcomes it corrects (a record billed after
    all)."""

    def next_hour_to_seal(self) -> datetime | None: ...

    def retention_floor(self) -> RetentionFloor: ...

    def write_results(self, results: Sequence[RecordResult]) -> None: ...

    def sealed_in_dry_run(self, hour: datetime) -> bool:
        """The hour was sealed in dry run (``MeteringLedger.seal``)."""
        ...

    def modes_kept_since(self) -> datetime | None:
        """The first hour sealed by a version that keeps each hour's mode (``MeteringLedger.seal``): from it on, an
        hour not sealed in dry run was sealed live. None: no hour sealed so yet."""
        ...


@dataclass(frozen=True)
class AuditDeps:
    """What reconciling an hour reads: the ledger's records of it and CloudTrail's results."""

    entries_of_hour: Callable[[datetime], Iterable[MeteringEntry]]
    trail: TrailReader
    # whether a result CloudTrail shows names one of our customers: the seller may meter other products from the
    # same account and Region, outside this stack, and those are not ours to reconcile
    ours: Callable[[TrailResult], bool] = lambda result: True
    mark: ReconciliationMark | None = None  # the flush's reconciliation of every hour; None: hours audited on demand
    # the records an hour's accepted usage adds up to, as sealing aggregates it (None: not compared)
    accepted: Callable[[datetime], list[MeteringRecord]] | None = None


def settled_hour(now: datetime) -> datetime:
    return hour_of(now - SETTLED_AFTER)


@dataclass(frozen=True)
class HourReconciled:
    """An hour reconciled, with what it found."""

    hour: datetime
    findings: list[Finding]


@dataclass(frozen=True)
class Reconciled:
    """What one run reconciled: the hours it finished (oldest first), how many settled hours are left, and why it
    stopped before them (None: it caught up)."""

    hours: list[HourReconciled]
    behind: int
    waiting: str | None = None


def reconcile_due(
    deps: AuditDeps,
    now: datetime,
    out_of_time: Callable[[], bool],
    report: Callable[[HourReconciled], None] = lambda hour: None,
) -> Reconciled:
    """Reconcile every settled hour not reconciled yet, oldest first, each once: an hour is finished, and the mark
    moved past it, only when every record of it has Marketplace's answer and CloudTrail can show it; the run stops at
    the first hour that is not there yet (an outage, a backlog), and the next run starts from it. Each hour is
    ``report``-ed before the mark moves past it: a run that dies in between leaves it to the next (reported twice at
    worst, never lost)."""
    assert deps.mark is not None
    mark = deps.mark.reconciled_until()
    last = settled_hour(now)
    # live metering starts the reconciliation before it sends (``begin_reconciliation``); one it did not start
    # starts with every hour Marketplace may still bill, and keeps that start before it reads anything: a first run
    # that fails (CloudTrail unreadable) leaves it to the next, which may come more than a day later, instead of
    # letting the start move with it past hours billed meanwhile. Every run starts no earlier than the oldest hour
    # still checkable: one whose records expired, or whose calls CloudTrail no longer holds, would only read as
    # differences
    oldest = _oldest_checkable(deps.mark.retention_floor(), now)
    hour = max(mark.hour or hour_of(now - RECONCILE_FIRST), oldest)
    if mark.hour is None:
        if not deps.mark.move_reconciled(mark, hour):
            return Reconciled([], max(0, int((last - hour) / HOUR) + 1), "another run is reconciling")
        mark = ReconciledMark(hour, mark.version + 1)
    sealed = deps.mark.next_hour_to_seal()
    modes_since = deps.mark.modes_kept_since()
    done: list[HourReconciled] = []
    waiting = None
    trail: list[TrailResult] = []  # CloudTrail's results of the hours before ``read_until``, read a window at a time
    read_until = hour
    while hour <= last:
        if out_of_time():
            waiting = "out of time"
            break
        if sealed is None or hour >= sealed:
            waiting = f"hour {hour.isoformat()} is not sealed yet"
            break
        entries = list(deps.entries_of_hour(hour))
        if unsent := [e for e in entries if e.status == "pending"]:
            waiting = f"{len(unsent)} records of hour {hour.isoformat()} are not sent yet"
            break
        answered = max((e.at for e in entries if e.at is not None), default=None)
        if answered is not None and now - answered < CLOUDTRAIL_DELIVERY:
            waiting = f"hour {hour.isoformat()} was sent {now - answered} ago: CloudTrail may not show it yet"
            break
        if hour >= read_until:
            read_until = hour + TRAIL_WINDOW
            end = read_until + TRAIL_LOOKAHEAD
            window = _read_trail(deps.trail, hour, end if end < now else None, out_of_time)
            if window is None:
                waiting = "out of time"
                break
            trail = [r for r in window if hour <= r.hour < read_until]
        ours = live_in_hour(deps.mark.sealed_in_dry_run, hour, entries, modes_since)
        if ours is not None:  # sealed in dry run: only what Marketplace answered of it is reconciled
            entries = [e for e in entries if (e.record.customer, e.record.dimension) in ours]
            trail_of_hour = [r for r in trail if r.hour == hour and (r.customer, r.dimension) in ours]
        else:
            trail_of_hour = [r for r in trail if r.hour == hour]
        entries = _corrected(deps.mark, entries, trail_of_hour)
        live = ours is None and known_sealed_live(hour, modes_since)
        findings = audit_hour(deps, hour, entries, trail_of_hour, sealed_live=live)
        findings += unsealed(deps, hour, entries, deps.mark)
        if ours is not None:
            findings = [f for f in findings if (f.customer, f.dimension) in ours]
        reconciled = HourReconciled(hour, findings)
        report(reconciled)
        if not deps.mark.move_reconciled(mark, hour + HOUR):
            waiting = "another run is reconciling"
            break
        done.append(reconciled)
        hour += HOUR
        mark = ReconciledMark(hour, mark.version + 1)
    return Reconciled(done, max(0, int((last - hour) / HOUR) + 1), waiting)


# outcomes only Marketplace gives (a dry run answers DryRun, or parks a record as failed, as live metering would)
MARKETPLACE_ANSWERS = frozenset({"sent", "not_subscribed", "duplicate"})


def known_sealed_live(hour: datetime, modes_since: datetime | None) -> bool:
    """The hour, not sealed in dry run, is known to be sealed live: a version that keeps each hour's mode sealed it
    (``ReconciliationMark.modes_kept_since``)."""
    return modes_since is not None and hour >= modes_since


def live_in_hour(
    marked: Callable[[datetime], bool], hour: datetime, entries: list[MeteringEntry], modes_since: datetime | None
) -> set[tuple[str, str]] | None:
    """What of the hour is reconciled: all of it (None), or, sealed in dry run, only the customers and dimensions of
    its records Marketplace answered (a leaving buyer's final usage, sent live into the open hour before the mode
    changed: billed, or refused after a first send whose answer was lost, attack 60). Of an hour sealed in dry run (a
    rehearsal, an emergency stop) nothing else was ours to bill: what another integration billed beside it is not ours
    to report, nor are the records the dry run parked (out of the window, a carry with no hour left: attack 57). An
    hour an earlier version sealed, before each hour's mode was kept (``modes_since``), is told by its records alone
    (all ``dry_run``: sealed in dry run); one sealed live since is reconciled whole, though a dry run answered all its
    records (an emergency stop before they were sent: attack 60)."""
    if marked(hour):
        return {(e.record.customer, e.record.dimension) for e in entries if e.status in MARKETPLACE_ANSWERS}
    if not known_sealed_live(hour, modes_since) and entries and all(e.status == "dry_run" for e in entries):
        return set()
    return None


def begin_reconciliation(mark: ReconciliationStart, first: datetime, now: datetime) -> None:
    """Live metering is about to send from the hour ``first`` on (the flush, or a leaving buyer's final usage): a
    reconciliation never started starts there, or 24 hours back if earlier (every hour Marketplace may still have
    billed: a stack upgraded from a version that never reconciled), written before anything is sent. So every hour
    sent live is reconciled, however long the first flushes failed (a new stack whose flushes died for a day had
    records sent, their answers lost, then parked as too old though billed: only reconciling their hours finds them
    billed; simulator seed 43633). Hours sealed only in dry run are passed over by the reconciliation itself."""
    seen = mark.reconciled_until()
    if seen.hour is None:
        mark.move_reconciled(seen, min(first, hour_of(now - RECONCILE_FIRST)))  # or another sender just did


def _oldest_checkable(floor: RetentionFloor, now: datetime) -> datetime:
    """The oldest hour whose calls CloudTrail still holds and whose records the ledger still keeps."""
    kept = CLOUDTRAIL_HISTORY if floor.days is None else min(CLOUDTRAIL_HISTORY, timedelta(days=floor.days))
    return hour_of(now - kept) + HOUR


def _read_trail(
    trail: TrailReader, start: datetime, end: datetime | None, out_of_time: Callable[[], bool]
) -> list[TrailResult] | None:
    """CloudTrail's results from ``start`` until ``end``; None if the run ran out of time reading them."""
    results = []
    for count, result in enumerate(trail.metering_results(start, end), start=1):
        if count % TRAIL_RESULTS_BETWEEN_CHECKS == 0 and out_of_time():
            return None
        results.append(result)
    return results


def _corrected(
    ledger: ReconciliationMark, entries: list[MeteringEntry], results: list[TrailResult]
) -> list[MeteringEntry]:
    """The hour's entries, those billed after all recorded as sent (in the ledger too)."""
    corrections: dict[int, RecordResult] = {}
    for index, entry in enumerate(entries):
        billed, _ = trail_of(entry, results)
        if (shown := billed_after_all(entry, billed)) is not None:
            corrections[index] = RecordResult(entry.record, "sent", shown.metering_record_id, None, shown.event_time)
    if corrections:
        ledger.write_results(list(corrections.values()))
    return [
        MeteringEntry(c.record, c.status, c.metering_record_id, None, c.at) if (c := corrections.get(i)) else entry
        for i, entry in enumerate(entries)
    ]


def unsealed(deps: AuditDeps, hour: datetime, entries: list[MeteringEntry], carries: CarryReader) -> list[Finding]:
    """Usage accepted for ``hour`` that its sealed totals do not hold: stored after the hour was sealed (a write that
    landed later than the in-flight margin allows). Marketplace would refuse another total for the hour, so it is not
    billed: counted here, never silently absent. Each total is the usage accepted, plus what earlier hours carried
    into it, less what it carried on (into the next hour, or placed in a leaving buyer's earlier hours)."""
    if deps.accepted is None:
        return []
    accepted = {r.key: r for r in deps.accepted(hour)}
    sealed = {e.record.key: e.record for e in entries}
    carried_in = {c.key: c.quantity for c in carries.carried_into(hour)}
    later = hour + HOUR
    carried_on = {c.key: c.quantity for c in carries.carried_into(later)}
    carried_on |= {c.key: c.quantity for c, _ in carries.placements_into(later)}
    findings = []
    for key, usage in sorted(accepted.items()):
        record = sealed.get(key)
        expected = usage.quantity + carried_in.get(key, Decimal(0)) - carried_on.get(key, Decimal(0))
        held = record.quantity if record is not None else Decimal(0)
        if held < expected:
            what = (
                f"accepted {quantity_text(expected)} units, sealed {quantity_text(held)}: "
                f"{quantity_text(expected - held)} stored after the hour was sealed, not billed"
            )
            findings.append(Finding(hour, usage.customer, usage.dimension, ACCEPTED_NOT_SEALED, what))
    return findings


def audit_hour(
    deps: AuditDeps,
    hour: datetime,
    entries: Iterable[MeteringEntry] | None = None,
    trail: Iterable[TrailResult] | None = None,
    *,
    sealed_live: bool = False,
) -> list[Finding]:
    """Every sealed record of ``hour`` against CloudTrail, and every result CloudTrail shows AWS billed for that hour
    that no record of ours accounts for. (Usage accepted after its hour was sealed is counted by the flush itself,
    ``SealedTotalMismatch``.) ``entries``, ``trail``: as already read; ``sealed_live``: the hour is known sealed
    live."""
    entries = list(deps.entries_of_hour(hour) if entries is None else entries)
    results = once_each(r for r in (deps.trail.metering_results(hour) if trail is None else trail) if r.hour == hour)
    findings: list[Finding] = []
    accounted: set[int] = set()
    for entry in sorted(entries, key=lambda e: e.record.key):
        billed, own = trail_of(entry, results)
        accounted.update(id(r) for r in billed)
        kind, detail = sealed_mismatch(entry, billed, own, checked=True, sealed_live=sealed_live)
        if kind is not None:
            findings.append(Finding(hour, entry.record.customer, entry.record.dimension, kind, detail or ""))
    for result in results:
        if result.status == "Success" and id(result) not in accounted and deps.ours(result):
            what = f"AWS billed {quantity_text(result.quantity)} units that no record of ours accounts for"
            findings.append(Finding(hour, result.customer, result.dimension, UNKNOWN_TO_LEDGER, what))
    return findings
