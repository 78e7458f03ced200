"""How cost grows: one hour's flush (``functions.flush.service.flush``: seal, store the records, send them) on the
in-memory fakes, for 10k, 100k and 1M events in the hour from 100 and 10,000 buyers using 1 and 20 dimensions of one
product (12 points; ``BENCH_SCALE`` multiplies the events: 0.1 for a quick run). Per point: sealing time, the flush's
time, BatchMeterUsage calls, DynamoDB write units, peak memory.

The claim: every figure but sealing time grows with the records Marketplace bills (one per buyer, dimension and
hour: here the buyer x dimension pairs the hour's events touch, so at most buyers x dimensions), never with events.
Events go round the pairs, so 100 x 1, 100 x 20 and 10,000 x 1 have the same records at every event count (calls,
write units and memory must then be the same, within x1.1); 10,000 x 20 (200,000 pairs) has fewer records than
events allow below 1M, and there each figure per record must not grow (x1.1) as the records do. Sealing reads each
event once, so its time grows with events: that it stays linear (a constant time per event) is what is checked.

How each figure is measured, all in the same run:

- Events are stored in the unit tests' ``InMemoryUsage`` directly (its ``add``, not the handler; ``tests/fakes.py``
  is plain Python, no pytest, as the simulator uses it too) before anything is measured, and read back streaming
  (``StreamedUsage``): the fake's own read copies and sorts the hour (fine for a test), which would put the hour's
  events in memory at once; the DynamoDB store pages through them in the same memory however many there are, and so
  does this reader.
- Calls: the ``BatchMeterUsage`` calls made, counted by an in-memory gateway answering every record Success with a
  MeteringRecordId of the size Marketplace's (and the emulator's) has, a UUID.
- Write units: ``InMemoryLedger`` keeps the records; ``BilledLedger`` adds what DynamoDB would bill the DynamoDB
  ledger (``functions/flush/ledger.py``) for the same calls, by DynamoDB's rules (``bench._local.write_units``: a unit
  per KB of the item, never less than one): the chunk items it puts when the hour is sealed, built by the ledger's
  own ``_chunks`` and ``_chunk_item``; one UpdateItem per chunk for its outcomes (``_outcome``), billed at the larger
  of the item's size before and after; the lease put and its delete, the seal cursor's put, the unsent mark's put and
  the reconciliation mark's update, each an item well under 1 KB, one unit. Computing them is simpler than running
  the DynamoDB ledger against a stand-in of boto3's client (which our rules forbid), and the reference checks it is
  as exact: one point (``REFERENCE``) is flushed again with the DynamoDB ledger on DynamoDB Local in the same run,
  and the write units DynamoDB Local reports for it (``bench._local.CapacityMeter``) are printed beside the count.
- Peak memory: ``tracemalloc`` over the flush, in a round of its own (tracing slows Python several times); it counts
  the in-memory ledger's and gateway's keeping (stand-ins of DynamoDB and Marketplace), which grow with records too.
- Times: the median of ``ROUNDS`` untraced rounds, each on a fresh ledger and gateway over the same stored events,
  the event counts of one buyers x dimensions taken in turn (a machine busy with something else slows them alike);
  the stored events are frozen out of the garbage collector's passes (they stand in for the table, not the Lambda's
  memory); sealing is the time from the flush's start to its first store of the hour's records (reading and
  totalling the events), the rest is storing and sending. The steady state: the previous hour is sealed and nothing
  is unsent.
- Slopes: each figure fitted as ``fixed + per_event * events + per_record * records`` over the 12 points (least
  squares of the relative errors); "never with events" reads as a per-event term near nothing.
"""

from __future__ import annotations

import gc
import math
import os
import statistics
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench._local import CapacityMeter, dynamodb_client, item_size, use_loopback_credentials, write_units
from functions.clock import ManualClock
from functions.customers.model import CustomerRef
from functions.flush.calls import MAX_RECORDS_PER_CALL
from functions.flush.ledger import SHARDS, DynamoMeteringLedger, _chunk_item, _chunks, _outcome
from functions.flush.records import (
    BatchOutcome,
    MeteringLedger,
    MeteringRecord,
    ReconciledMark,
    RecordOutcome,
    RecordResult,
    UnsentMark,
)
from functions.flush.sender import Backoff
from functions.flush.service import FlushDeps, flush
from functions.settings import Dimension, Product, Settings
from functions.usage.model import UsageEvent
from local.dynamodb import dynamodb_endpoint as dynamodb_local
from local.tables import FIXED_DATE_RETENTION, create_fresh_tables
from tests.fakes import InMemoryCustomers, InMemoryLedger, InMemoryUsage

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
EVENTS = [int(n * SCALE) for n in (10_000, 100_000, 1_000_000)]
BUYERS = (100, 10_000)
DIMENSIONS = (1, 20)
ROUNDS = 3
# the point whose write units DynamoDB Local counts too (events, buyers, dimensions): the same flush, the same items
REFERENCE = (10_000, 100, 20)
# what "the same at the same records" allows: the largest of a figure over the event counts within this of the least
SAME = 1.1
# what "linear in events" allows: sealing time per event within this of the smallest event count's
LINEAR = 1.25
HOUR = datetime(2026, 11, 26, 9, tzinfo=UTC)
PRODUCT_CODE = "scale-product"
ROOT = Path(__file__).resolve().parents[1]
FIGURE = ROOT / "docs" / "scale.png"


class StreamedUsage:
    """``UsageReader`` over the events stored in an ``InMemoryUsage``, one at a time, as the DynamoDB store's pages."""

    def __init__(self, store: InMemoryUsage) -> None:
        self._events = store.events

    def events_of_hour(self, hour: datetime) -> Iterator[UsageEvent]:
        return (e for (h, _, _), e in self._events.items() if h == hour and e.late_billing_hour is None)

    def late_events_billed_in(self, hour: datetime) -> Iterator[UsageEvent]:
        return (e for e in self._events.values() if e.late_billing_hour == hour)


@dataclass
class _Chunk:
    """A chunk item's size without its outcomes map, and the outcomes map's size (``item_size`` of it alone)."""

    base: int
    outcomes: int


class BilledLedger(InMemoryLedger):
    """The in-memory ledger, and the write units DynamoDB would bill the DynamoDB ledger for the same calls."""

    SMALL_ITEM = 1  # the lease, the seal cursor, the unsent mark: a few short attributes each

    def __init__(self, retention: timedelta) -> None:
        super().__init__()
        self.retention = retention
        self.units = 0
        self.bytes = 0  # the items' sizes the units are billed for, before rounding up to KB
        self._lock = threading.Lock()  # outcomes are written from the flush's workers
        self.first_store: float | None = None  # perf_counter when the first hour's records were stored
        self._chunk_of: dict[tuple[datetime, str], tuple[_Chunk, str]] = {}

    def acquire_lease(self, owner: str, until: datetime, now: datetime) -> bool:
        self.units += self.SMALL_ITEM
        return super().acquire_lease(owner, until, now)

    def release_lease(self, owner: str) -> None:
        self.units += self.SMALL_ITEM
        super().release_lease(owner)

    def seal(self, hour: datetime, *, dry_run: bool = False) -> bool:
        self.units += self.SMALL_ITEM
        return super().seal(hour, dry_run=dry_run)

    def move_unsent_mark(self, mark: UnsentMark, hour: datetime) -> bool:
        self.units += self.SMALL_ITEM
        return super().move_unsent_mark(mark, hour)

    def move_reconciled(self, seen: ReconciledMark, to: datetime) -> bool:
        self.units += self.SMALL_ITEM  # the reconciliation's mark: begun, or moved past an hour reconciled
        return super().move_reconciled(seen, to)

    def write_hour(self, hour: datetime, records: Sequence[MeteringRecord]) -> list[MeteringRecord]:
        if self.first_store is None:
            self.first_store = time.perf_counter()
        new = [r for r in records if (r.hour, r.key) not in self.records]
        expires_at = int((hour + self.retention).timestamp())
        for number, chunk in enumerate(_chunks(new)):  # dealt over the ledger's partitions as it deals them
            item = _chunk_item(chunk, number % SHARDS, expires_at)
            self.units += write_units(item)
            self.bytes += item_size(item)
            outcomes = item_size({"o": item.pop("o")})
            stored = _Chunk(item_size(item), outcomes)
            for index, record in enumerate(chunk):
                self._chunk_of[(record.hour, record.key)] = (stored, str(index))
        return super().write_hour(hour, records)

    def write_results(self, results: Sequence[RecordResult]) -> None:
        by_chunk: dict[int, tuple[_Chunk, dict[str, Any]]] = {}
        for result in results:
            chunk, index = self._chunk_of[(result.record.hour, result.record.key)]
            by_chunk.setdefault(id(chunk), (chunk, {}))[1][index] = {"M": _outcome(result)}
        with self._lock:
            for chunk, outcomes in by_chunk.values():  # one UpdateItem each: SET o.<index> = <outcome>, ...
                before = chunk.base + chunk.outcomes
                chunk.outcomes += item_size({"o": {"M": outcomes}}) - item_size({"o": {"M": {}}})
                billed = max(before, chunk.base + chunk.outcomes)
                self.units += max(1, math.ceil(billed / 1024))
                self.bytes += billed
            super().write_results(results)


class SuccessGateway:
    """``MeteringGateway``: every record Success, with a MeteringRecordId shaped as Marketplace's; the calls counted."""

    def __init__(self) -> None:
        self.calls = 0
        self.records = 0
        self._lock = threading.Lock()  # the flush's workers call at once

    def batch_meter_usage(self, records: Sequence[MeteringRecord]) -> BatchOutcome:
        with self._lock:
            self.calls += 1
            first = self.records
            self.records += len(records)
        return BatchOutcome(
            tuple(RecordOutcome(r, "Success", str(uuid.UUID(int=first + n))) for n, r in enumerate(records)), ()
        )


class Unmetered:
    """``RateLimiter`` that never waits: the quota's pace is the flush-throughput benchmark's, not this one's."""

    def acquire(self, stop: Callable[[], bool] = lambda: False) -> bool:
        return True


def _product(dimensions: int) -> Product:
    names = tuple(Dimension(name=f"dimension_{d:02d}") for d in range(dimensions))
    return Product(code=PRODUCT_CODE, name="Scale", dimensions=names)


def _events(count: int, buyers: int, product: Product) -> Iterator[UsageEvent]:
    """``count`` events going round the buyer x dimension pairs, spread over the hour."""
    licences = [f"arn:aws:license-manager::294406891311:license:l-{b:032x}" for b in range(buyers)]
    keys = [CustomerRef(PRODUCT_CODE, license_arn=licence).key for licence in licences]
    names = [d.name for d in product.dimensions]
    moments = [HOUR + timedelta(seconds=s) for s in range(3600)]
    quantities = [Decimal(q) for q in range(1, 8)]
    for n in range(count):
        buyer, dimension = divmod(n % (buyers * len(names)), len(names))
        moment = moments[n % len(moments)]
        yield UsageEvent(
            event_id=f"e{n}",
            product_code=PRODUCT_CODE,
            customer_key=keys[buyer],
            customer_aws_account_id=f"{300000000000 + buyer}",
            dimension=names[dimension],
            quantity=quantities[n % len(quantities)],
            timestamp=moment,
            received_at=moment,
            license_arn=licences[buyer],
        )


def _stored(count: int, buyers: int, product: Product) -> InMemoryUsage:
    store = InMemoryUsage()
    batch: list[UsageEvent] = []
    for event in _events(count, buyers, product):
        batch.append(event)
        if len(batch) == 10_000:
            store.add(batch)
            batch = []
    store.add(batch)
    return store


@dataclass
class _Round:
    seal_seconds: float
    flush_seconds: float
    calls: int
    records: int
    events: int
    units: int
    written: int
    peak_bytes: int = 0
    totals: dict[str, Decimal] = field(default_factory=dict)


def _deps(settings: Settings, usage: StreamedUsage, ledger: MeteringLedger, gateway: SuccessGateway) -> FlushDeps:
    return FlushDeps(
        settings=settings,
        usage=usage,
        ledger=ledger,
        customers=InMemoryCustomers(),
        gateway=gateway,
        clock=ManualClock(HOUR + timedelta(hours=1, minutes=10)),
        backoff=Backoff(sleep=lambda _: None),
        limiter=Unmetered(),
    )


def _flush_once(settings: Settings, usage: StreamedUsage, *, traced: bool) -> _Round:
    ledger = BilledLedger(timedelta(days=settings.audit_retention_days))
    ledger.next_hour = HOUR  # the steady state: the hour before is sealed, nothing of it left unsent
    ledger.mark = UnsentMark(HOUR, 0)
    gateway = SuccessGateway()
    deps = _deps(settings, usage, ledger, gateway)
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    report = flush(deps, remaining_ms=lambda: 900_000)
    finished = time.perf_counter()
    peak = 0
    if traced:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    stored = [ledger.records[key][0] for key in sorted(ledger.records)]
    if report.hours_sealed != 1 or report.left_pending or report.failed or ledger.carries:
        raise SystemExit(f"cost_growth: the flush did not bill the hour at once: {report}")
    return _Round(
        seal_seconds=(ledger.first_store or finished) - started,
        flush_seconds=finished - started,
        calls=gateway.calls,
        records=report.succeeded,
        events=sum(r.events for r in stored),
        units=ledger.units,
        written=ledger.bytes,
        peak_bytes=peak,
        totals={r.key: r.quantity for r in stored},
    )


def _measure_series(buyers: int, dimensions: int) -> list[dict[str, Any]]:
    """The points of one buyers x dimensions, one per event count; their rounds taken in turn (a round of each count,
    then the next round), so that whatever else the machine runs meanwhile weighs on each count alike."""
    product = _product(dimensions)
    settings = Settings(products=(product,))
    stores = {events: _stored(events, buyers, product) for events in EVENTS}
    # the stored events stand in for the usage table, not the Lambda's memory: kept out of the garbage collector's
    # passes, which would otherwise slow the flush in proportion to them
    gc.collect()
    gc.freeze()
    try:
        rounds: dict[int, list[_Round]] = {events: [] for events in EVENTS}
        for _ in range(ROUNDS):
            for events in EVENTS:
                rounds[events].append(_flush_once(settings, StreamedUsage(stores[events]), traced=False))
        traced = {events: _flush_once(settings, StreamedUsage(stores[events]), traced=True) for events in EVENTS}
    finally:
        gc.unfreeze()
    return [_point(stores[events], buyers, dimensions, rounds[events], traced[events]) for events in EVENTS]


def _point(store: InMemoryUsage, buyers: int, dimensions: int, rounds: list[_Round], traced: _Round) -> dict[str, Any]:
    events = len(store.events)
    expected: dict[str, Decimal] = {}
    for event in store.events.values():
        key = f"{PRODUCT_CODE}#{event.customer_key}#{event.dimension}"
        expected[key] = expected.get(key, Decimal(0)) + event.quantity
    for each in [*rounds, traced]:
        if each.totals != expected or each.events != events or each.records != len(expected):
            raise SystemExit(f"cost_growth: {events} events billed as {each.records} records of {each.events} events")
        if (each.calls, each.units) != (traced.calls, traced.units):
            raise SystemExit("cost_growth: two rounds of the same hour made different calls or writes")
    seal = statistics.median(r.seal_seconds for r in rounds)
    whole = statistics.median(r.flush_seconds for r in rounds)
    records = traced.records
    return {
        "events": events,
        "buyers": buyers,
        "dimensions": dimensions,
        "records": records,
        "seal_seconds": round(seal, 4),
        "flush_seconds": round(whole, 4),
        "store_and_send_seconds": round(whole - seal, 4),
        "seal_microseconds_per_event": round(seal * 1e6 / events, 3),
        "store_and_send_microseconds_per_record": round((whole - seal) * 1e6 / records, 2),
        "calls": traced.calls,
        "calls_per_record": round(traced.calls / records, 4),
        "write_units": traced.units,
        "write_units_per_record": round(traced.units / records, 4),
        "bytes_written_per_record": round(traced.written / records, 1),
        "peak_memory_kib": round(traced.peak_bytes / 1024, 1),
        "peak_memory_bytes_per_record": round(traced.peak_bytes / records, 1),
        "seal_seconds_rounds": [round(r.seal_seconds, 4) for r in rounds],
    }


def _on_dynamodb_local(events: int, buyers: int, dimensions: int) -> dict[str, Any]:
    """The reference for the write units: one flush of the same hour with the DynamoDB ledger on DynamoDB Local, its
    write units as DynamoDB Local reports them, beside ``BilledLedger``'s count of the same flush."""
    use_loopback_credentials()
    product = _product(dimensions)
    usage = StreamedUsage(_stored(events, buyers, product))
    meter = CapacityMeter()
    with dynamodb_local() as endpoint:
        client = meter.attach(dynamodb_client(endpoint))
        settings = create_fresh_tables(client, endpoint, "g", products=(product,))
        ledger = DynamoMeteringLedger(client, settings.metering_table, retention=FIXED_DATE_RETENTION)
        ledger.seal(HOUR - timedelta(hours=1))  # the steady state, as the in-memory rounds start
        ledger.move_unsent_mark(UnsentMark(None, 0), HOUR)
        meter.reset()
        report = flush(_deps(settings, usage, ledger, SuccessGateway()), remaining_ms=lambda: 900_000)
        if report.hours_sealed != 1 or report.left_pending or report.failed:
            raise SystemExit(f"cost_growth: the flush on DynamoDB Local did not bill the hour at once: {report}")
        reported = meter.units_of(settings.metering_table, "write")
    counted = _flush_once(settings, usage, traced=False).units
    return {
        "events": events,
        "buyers": buyers,
        "dimensions": dimensions,
        "records": report.succeeded,
        "write_units_dynamodb_local": reported,
        "write_units_counted": counted,
        "counted_over_reported": round(counted / reported, 4),
    }


def _fit(points: list[dict[str, Any]], figure: str) -> dict[str, float]:
    """``figure = fixed + per_event * events + per_record * records``, least squares of the relative errors (the
    points span three orders of magnitude: each counts alike)."""
    import numpy  # matplotlib's; heavy, and only needed here

    terms = numpy.array([[1.0, p["events"], p["records"]] for p in points]) / numpy.array(
        [[float(p[figure])] for p in points]
    )
    values = numpy.ones(len(points))
    (fixed, per_event, per_record), *_ = numpy.linalg.lstsq(terms, values, rcond=None)
    fitted = {"fixed": fixed, "per_event": per_event, "per_record": per_record}
    return {name: float(f"{value:.4g}") for name, value in fitted.items()}


def _number(value: float) -> str:
    """Four significant digits; what is left of an exact zero after least squares (1e-12) shows as 0."""
    return f"{round(value, 6) + 0.0:,.4g}"


def _spread(values: list[float]) -> float:
    return max(values) / min(values) if min(values) else math.inf


def _verdicts(points: list[dict[str, Any]]) -> dict[str, Any]:
    """Each claim with its figure. Where the records are the same at every event count, the figure must be: the most
    over the least. Where they grow with the events, the figure per record must not grow ("no faster than the
    records"): its most at a larger event count over it at the smallest. Sealing time per event at the same records
    must not grow either (linear in events): the same ratio."""
    groups = _series(points)
    same_records = [g for g in groups if len({p["records"] for p in g}) == 1]
    more_records = [g for g in groups if len({p["records"] for p in g}) > 1]
    verdicts: dict[str, Any] = {}
    for figure, per_record in (
        ("calls", "calls_per_record"),
        ("write_units", "write_units_per_record"),
        ("peak_memory_kib", "peak_memory_bytes_per_record"),
    ):
        at_same = max((_spread([p[figure] for p in g]) for g in same_records), default=1.0)
        at_more = max((_growth(g, per_record) for g in more_records), default=1.0)
        verdicts[figure] = {
            "most_over_least_at_same_records": round(at_same, 3),
            "per_record_growth_as_records_grow": round(at_more, 3),
            "met": at_same <= SAME and at_more <= SAME,
        }
    per_event = max(_growth(g, "seal_microseconds_per_event") for g in same_records)
    verdicts["seal_seconds"] = {"per_event_growth": round(per_event, 3), "met": per_event <= LINEAR}
    verdicts["calls"]["one_per_25_records"] = all(
        p["calls"] == math.ceil(p["records"] / MAX_RECORDS_PER_CALL) for p in points
    )
    return verdicts


def _growth(series: list[dict[str, Any]], figure: str) -> float:
    """The most of ``figure`` at a larger event count over it at the smallest (series ordered by events)."""
    return float(max(p[figure] for p in series[1:]) / series[0][figure])


def _series(points: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The points of each buyers x dimensions, by events."""
    return [
        sorted((p for p in points if (p["buyers"], p["dimensions"]) == pair), key=lambda p: p["events"])
        for pair in _pairs()
    ]


def _pairs() -> list[tuple[int, int]]:
    return [(b, d) for b in BUYERS for d in DIMENSIONS]


def _plot(points: list[dict[str, Any]]) -> None:
    # imported here: heavy, and only when the figure is drawn; Agg draws without a display
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        ("seal_seconds", "sealing time (s)"),
        ("calls", "BatchMeterUsage calls"),
        ("write_units", "DynamoDB write units"),
        ("peak_memory_kib", "peak memory (KiB)"),
    )
    figure, axes = plt.subplots(2, 2, figsize=(11, 8), constrained_layout=True)
    for axis, (key, label) in zip(axes.flat, panels, strict=True):
        for buyers, dimensions in _pairs():
            series = [p for p in points if (p["buyers"], p["dimensions"]) == (buyers, dimensions)]
            records = "/".join(f"{p['records']:,}" for p in series)
            axis.plot(
                [p["events"] for p in series],
                [p[key] for p in series],
                marker="o",
                label=f"{buyers:,} buyers x {dimensions} dim. ({records} records)",
            )
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("events in the hour")
        axis.set_title(label)
        axis.grid(True, which="both", alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    figure.suptitle(
        "One hour's flush on the in-memory fakes (median of rounds)\ncalls, write units and peak memory follow the "
        "records billed (flat where those are the same); sealing time follows the events"
    )
    figure.savefig(FIGURE, dpi=80, metadata={"Software": None})
    plt.close(figure)


def run() -> dict[str, Any]:
    reference = _on_dynamodb_local(*REFERENCE)
    print(
        f"cost_growth: reference, same run: one flush of {reference['events']:,} events from {reference['buyers']:,} "
        f"buyers x {reference['dimensions']} dim. ({reference['records']:,} records) with the DynamoDB ledger on "
        f"DynamoDB Local: {reference['write_units_dynamodb_local']:,} WCU reported; counted here "
        f"{reference['write_units_counted']:,} (x{reference['counted_over_reported']})",
        flush=True,
    )
    points = []
    for buyers, dimensions in _pairs():
        for point in _measure_series(buyers, dimensions):
            points.append(point)
            events = point["events"]
            print(
                f"cost_growth: {events:>9,} events, {buyers:>6,} buyers x {dimensions:>2} dim. -> "
                f"{point['records']:>7,} records: seal {point['seal_seconds']:.3f} s "
                f"({point['seal_microseconds_per_event']:.2f} us/event), flush {point['flush_seconds']:.3f} s; "
                f"{point['calls']:,} calls ({point['calls_per_record']:.3f}/record), "
                f"{point['write_units']:,} WCU ({point['write_units_per_record']:.3f}/record), "
                f"peak {point['peak_memory_kib']:,.0f} KiB ({point['peak_memory_bytes_per_record']:,.0f} B/record)",
                flush=True,
            )
    fits = {
        figure: _fit(points, figure)
        for figure in ("seal_seconds", "store_and_send_seconds", "calls", "write_units", "peak_memory_kib")
    }
    for figure, unit, scale, per_events in (
        ("seal_seconds", "us", 1e6, 1),
        ("store_and_send_seconds", "us", 1e6, 1),
        ("calls", "calls", 1, 1_000_000),
        ("write_units", "WCU", 1, 1_000_000),
        ("peak_memory_kib", "bytes", 1024, 1_000_000),
    ):
        fit = fits[figure]
        print(
            f"cost_growth: {figure} = {_number(fit['fixed'] * scale)} {unit} + {_number(fit['per_record'] * scale)} "
            f"{unit} per record + {_number(fit['per_event'] * scale * per_events)} {unit} per "
            f"{'event' if per_events == 1 else 'million events'} (fitted to the 12 points)"
        )
    verdicts = _verdicts(points)
    for figure in ("calls", "write_units", "peak_memory_kib"):
        verdict = verdicts[figure]
        print(
            f"cost_growth: {figure} grow with records, not events: {'ok' if verdict['met'] else 'NOT MET'} "
            f"(same records, 10x and 100x the events: most/least x{verdict['most_over_least_at_same_records']}; "
            f"records growing with events: per record at most "
            f"x{verdict['per_record_growth_as_records_grow']} of the fewest events'; allowed x{SAME})"
        )
    written = "; ".join(
        f"{g[0]['buyers']:,} x {g[0]['dimensions']}: " + " -> ".join(f"{p['bytes_written_per_record']:,.1f}" for p in g)
        for g in _series(points)
    )
    print(f"cost_growth: bytes written per record (before DynamoDB rounds each write up to a KB), by events: {written}")
    print(
        f"cost_growth: calls are one per {MAX_RECORDS_PER_CALL} records (rounded up) at every point: "
        f"{'ok' if verdicts['calls']['one_per_25_records'] else 'NOT MET'}"
    )
    print(
        f"cost_growth: sealing time grows with events (each is read once), linearly at the same records: "
        f"{'ok' if verdicts['seal_seconds']['met'] else 'NOT MET'} (per event, at 10x and 100x the events: at "
        f"most x{verdicts['seal_seconds']['per_event_growth']} of the fewest events'; allowed x{LINEAR})"
    )
    if SCALE == 1:
        _plot(points)
        print(f"cost_growth: figure written to {FIGURE.relative_to(ROOT)}")
    else:
        print(f"cost_growth: BENCH_SCALE={SCALE}: {FIGURE.relative_to(ROOT)} left as it is")
    return {
        "rounds": ROUNDS,
        "reference": reference,
        "points": points,
        "fits": fits,
        "verdicts": verdicts,
        "targets": {"same_records_most_over_least": SAME, "per_record_growth": SAME, "seal_per_event_growth": LINEAR},
    }


if __name__ == "__main__":
    run()
