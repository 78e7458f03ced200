"""The money invariant: the emulator's ledger equals accepted usage, per customer, dimension and billed hour.

Real parts only: DynamoDB Local and the Marketplace emulator through unmodified boto3 clients; faults are
injected in the emulator (5xx, unprocessed records, lost responses, throttling) or by stopping the flush.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from functions.clock import ManualClock
from functions.customers.lifecycle_store import DynamoLifecycleStore
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from functions.flush.customer import send_customer_usage
from functions.flush.ledger import DynamoMeteringLedger
from functions.flush.records import BatchOutcome, MeteringEntry, MeteringRecord
from functions.flush.sender import Backoff
from functions.flush.service import FlushDeps, FlushReport, flush, flush_and_continue
from functions.lifecycle.notifications import parse_notification
from functions.lifecycle.service import Lifecycle
from functions.marketplace.agreements import MarketplaceAgreementEntitlements
from functions.marketplace.entitlements import Boto3EntitlementReader
from functions.marketplace.metering import Boto3MeteringGateway
from functions.observability import metrics
from functions.seller_events import RecordingPublisher
from functions.settings import Dimension, Product, Settings
from functions.usage.ingest import UsageRejected, record_usage
from functions.usage.model import MAX_INTEGER_QUANTITY, hour_key, hour_of
from functions.usage.store import DynamoUsageStore
from local.marketplace.testing import EmulatorHandle
from local.tables import FIXED_DATE_RETENTION
from tests.aws_corpus import Parties, eventbridge_example
from tests.integration.buyers import active_buyers
from tests.usage_table import event_items

START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
PRODUCT = Product(
    code="money-product",
    name="Money",
    dimensions=(Dimension(name="api_calls"), Dimension(name="storage_gb", quantity_type="decimal")),
)
FAST = Backoff(base=0.001, cap=0.01, attempts=30)


@dataclass
class World:
    settings: Settings
    clock: ManualClock
    marketplace: EmulatorHandle
    customers: list[dict[str, Any]]
    dynamodb: Any

    def deps(self, gateway: Any = None) -> FlushDeps:
        return FlushDeps(
            settings=self.settings,
            usage=self.store(),
            ledger=DynamoMeteringLedger(self.dynamodb, self.settings.metering_table, retention=FIXED_DATE_RETENTION),
            customers=DynamoCustomerRepository(self.dynamodb, self.settings.customers_table),
            gateway=gateway or Boto3MeteringGateway(self.marketplace.metering(max_attempts=1)),
            clock=self.clock,
            backoff=FAST,
        )

    def store(self) -> DynamoUsageStore:
        return DynamoUsageStore(
            self.dynamodb, self.settings.usage_table, shards=self.settings.usage_shards, retention=FIXED_DATE_RETENTION
        )

    def record(self, events: list[dict[str, Any]]) -> Any:
        return record_usage(
            events,
            settings=self.settings,
            customers=DynamoCustomerRepository(self.dynamodb, self.settings.customers_table),
            store=self.store(),
            clock=self.clock,
        )

    def move_to(self, moment: datetime) -> None:
        self.clock.set(moment)
        self.marketplace.admin.set_clock(moment.isoformat().replace("+00:00", "Z"))

    def ledger_totals(self) -> dict[tuple[str, str, str], Decimal]:
        totals: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
        for entry in self.marketplace.admin.ledger(product_code=PRODUCT.code):
            key = (entry["license_arn"], entry["dimension"], entry["hour"][:13])
            assert key not in totals, f"billed twice: {key}"
            totals[key] += Decimal(entry["quantity"])
        return dict(totals)


@pytest.fixture
def world(settings: Settings, marketplace: EmulatorHandle, dynamodb: Any) -> World:
    test_settings = replace(settings, products=(PRODUCT,), usage_shards=4, flush_grace_seconds=300)
    marketplace.admin.create_product(PRODUCT.code, ["api_calls", "storage_gb"], customer_mode="license")
    clock = ManualClock(START)
    w = World(test_settings, clock, marketplace, [], dynamodb)
    w.move_to(START)
    repository = DynamoCustomerRepository(dynamodb, test_settings.customers_table)
    accounts = [f"{100000000000 + n}" for n in range(6)]
    w.customers += active_buyers(marketplace, repository, PRODUCT.code, accounts, START - timedelta(days=1))
    return w


def _event(rng: random.Random, world: World, n: int, when: datetime) -> dict[str, Any]:
    customer = rng.choice(world.customers)
    decimal = rng.random() < 0.3
    event: dict[str, Any] = {
        "event_id": f"e{n}",
        "product_code": PRODUCT.code,
        "license_arn": customer["license_arn"],
        "customer_aws_account_id": customer["account_id"],
        "dimension": "storage_gb" if decimal else "api_calls",
        "quantity": f"{rng.randint(0, 50)}.{rng.randint(0, 999):03d}" if decimal else rng.randint(0, 1000),
        "timestamp": when.isoformat(),
    }
    if not decimal and rng.random() < 0.3 and event["quantity"] >= 2:
        half = event["quantity"] // 2
        event["allocations"] = [
            {"tags": {"team": rng.choice(["a", "b"])}, "quantity": half},
            {"tags": {"team": "c"}, "quantity": event["quantity"] - half},
        ]
    return event


def _run_workload(world: World, seed: int) -> dict[tuple[str, str, str], Decimal]:
    """Ingest 3 hours of random usage (duplicates and late events included); the expected bill per billed hour."""
    rng = random.Random(seed)
    expected: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    n = 0
    flushed_at = START
    for step in range(12):  # every 15 minutes over 3 hours
        # time only moves forward, as in AWS: an hourly flush may have run later than this step's draw
        now = max(START + timedelta(minutes=15 * step + rng.randint(0, 14)), flushed_at)
        world.move_to(now)
        events = [_event(rng, world, n + i, now - timedelta(minutes=rng.randint(0, 10))) for i in range(20)]
        n += len(events)
        if step >= 5 and rng.random() < 0.7:  # late: stamped in an hour that no longer takes usage
            late_time = now - timedelta(hours=1, minutes=30)
            events.append(_event(rng, world, n, late_time))
            n += 1
        events.append(dict(rng.choice(events)))  # the same event id again in the same batch
        result = world.record(events)
        again = world.record(events[:5])  # a retry of part of the batch: all duplicates
        assert len(again.accepted) == 0
        accepted = set(result.accepted)
        late: dict[datetime, set[str]] = defaultdict(set)
        for event in events:
            if event["event_id"] in accepted:
                accepted.discard(event["event_id"])
                when = datetime.fromisoformat(event["timestamp"])
                billed = hour_of(when)
                if now >= billed + timedelta(hours=1, seconds=300 - 60):
                    billed = hour_of(now + timedelta(seconds=60))
                    late[billed].add(event["event_id"])
                expected[(event["license_arn"], event["dimension"], hour_key(billed))] += Decimal(
                    str(event["quantity"])
                )
        _await_late_index(world, late)
        if step % 4 == 3:  # an hourly flush, at whatever point of the hour
            flushed_at = now + timedelta(minutes=6)
            world.move_to(flushed_at)
            flush(world.deps(), remaining_ms=lambda: 900_000)
    return expected


def _await_late_index(world: World, late: dict[datetime, set[str]]) -> None:
    """The late index is a GSI, which DynamoDB updates asynchronously (within a second, normally). In AWS a late
    event's billing hour is sealed at least six minutes after the event is accepted (its billing hour's end plus the
    grace, minus the in-flight margin); here the moved clock seals it at once, so wait until the index shows it."""
    deadline = time.monotonic() + 10
    store = world.store()
    for hour, ids in late.items():
        while not ids <= {e.event_id for e in store.late_events_billed_in(hour)}:
            assert time.monotonic() < deadline, f"late events {ids} not in the late index of {hour}"
            time.sleep(0.05)


def _drain(world: World) -> FlushReport:
    """Flush until no run asks for more (records Marketplace kept refusing wait for the schedule's next tick)."""
    world.move_to(START + timedelta(hours=4, minutes=10))
    report = FlushReport()
    for _ in range(8):
        report = flush(world.deps(), remaining_ms=lambda: 900_000)
        if not report.more_work:
            break
    return report


def _pending_in_ledger(world: World) -> int:
    """Records without an outcome in any hour, read hour by hour, not from where the flush's unsent mark says to."""
    ledger = DynamoMeteringLedger(world.dynamodb, world.settings.metering_table, retention=FIXED_DATE_RETENTION)
    hours = [START + timedelta(hours=n) for n in range(5)]
    return sum(entry.status == "pending" for hour in hours for entry in ledger.entries_of_hour(hour))


@pytest.mark.parametrize("seed", [1, 2])
def test_ledger_equals_accepted_usage_under_service_faults(world: World, seed: int) -> None:
    # Given 5xx, unprocessed records and lost responses (Marketplace committed, the answer never came back)
    world.marketplace.admin.put_faults(internal_error_rate=0.2, unprocessed_rate=0.2, lost_response_rate=0.2, seed=seed)
    # and, whatever the random draws (the flush's threads share the emulator's one seeded stream, so they vary from
    # run to run), the first calls are certainly throttled and answered 500
    world.marketplace.admin.queue_errors(
        {"operation": "BatchMeterUsage", "code": "ThrottlingException", "count": 2},
        {"operation": "BatchMeterUsage", "code": "InternalServiceErrorException"},
    )
    # When three hours of usage with duplicates and late events are ingested and flushed hourly, then drained
    expected = _run_workload(world, seed)
    report = _drain(world)
    # Then every accepted unit is billed exactly once, in its hour (late ones in the next open hour)
    assert report.left_pending == 0
    assert _pending_in_ledger(world) == 0
    assert world.ledger_totals() == dict(expected)
    assert report.duplicates == 0
    # and the faults really were exercised
    calls = world.marketplace.admin.calls(operation="BatchMeterUsage")
    assert sum(c["error_code"] == "ThrottlingException" for c in calls) >= 2
    assert sum(c["http_status"] >= 500 for c in calls) >= 1
    assert sum(c.get("unprocessed") or 0 for c in calls) > 0


class _KilledAfter:
    """Our gateway; the process dies right after call number ``calls`` committed, before its results were stored."""

    def __init__(self, inner: Boto3MeteringGateway, calls: int) -> None:
        self.inner = inner
        self.calls = calls
        self.lock = threading.Lock()

    def batch_meter_usage(self, records: list[MeteringRecord]) -> BatchOutcome:
        outcome = self.inner.batch_meter_usage(records)
        with self.lock:
            self.calls -= 1
            dead = self.calls <= 0
        if dead:
            raise SystemExit("flush process killed")
        return outcome


def test_a_flush_killed_mid_run_and_two_concurrent_flushes_bill_once(world: World) -> None:
    # Given three hours of accepted usage
    world.marketplace.admin.put_faults(lost_response_rate=0.1, seed=7)
    rng = random.Random(7)
    for step in range(3):
        world.move_to(START + timedelta(minutes=20 * step))
        world.record([_event(rng, world, 100 * step + i, START + timedelta(minutes=20 * step)) for i in range(60)])
    expected: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for item in event_items(world.dynamodb, world.settings.usage_table):
        expected[(item["l"]["S"], item["d"]["S"], item["pk"]["S"].split("#")[1])] += Decimal(item["q"]["S"])
    world.move_to(START + timedelta(hours=1, minutes=10))
    # When a flush dies right after its first call committed
    with pytest.raises(SystemExit):
        flush(
            world.deps(_KilledAfter(Boto3MeteringGateway(world.marketplace.metering(max_attempts=1)), 1)),
            remaining_ms=lambda: 900_000,
        )
    # and two flushes then run at once
    reports: list[FlushReport] = []
    threads = [
        threading.Thread(target=lambda: reports.append(flush(world.deps(), remaining_ms=lambda: 900_000)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    flush(world.deps(), remaining_ms=lambda: 900_000)
    # Then the ledger holds each total once, nothing lost, and Marketplace never saw a conflicting record
    assert world.ledger_totals() == dict(expected)
    assert all(r.duplicates == 0 for r in reports)


class _CountingGateway:
    """Our gateway, counting calls: the stand-in for Lambda time passing as the run works."""

    def __init__(self, inner: Boto3MeteringGateway) -> None:
        self.inner = inner
        self.calls = 0

    def batch_meter_usage(self, records: list[MeteringRecord]) -> BatchOutcome:
        self.calls += 1
        return self.inner.batch_meter_usage(records)


def test_a_run_out_of_time_stops_cleanly_and_its_continuation_finishes_the_backlog(world: World) -> None:
    # Given five closed hours of usage: a backlog of several calls
    rng = random.Random(11)
    for step in range(5):
        world.move_to(START + timedelta(hours=step, minutes=30))
        world.record([_event(rng, world, 100 * step + i, START + timedelta(hours=step, minutes=30)) for i in range(40)])
    expected: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for item in event_items(world.dynamodb, world.settings.usage_table):
        expected[(item["l"]["S"], item["d"]["S"], item["pk"]["S"].split("#")[1])] += Decimal(item["q"]["S"])
    world.move_to(START + timedelta(hours=5, minutes=10))
    # When a run's deadline comes close after its first call (the budget falls under the 60 s reserve)
    gateway = _CountingGateway(Boto3MeteringGateway(world.marketplace.metering(max_attempts=1)))
    continuations: list[str] = []
    first = flush_and_continue(
        replace(world.deps(gateway), workers=1),
        remaining_ms=lambda: 900_000 if gateway.calls < 1 else 1_000,
        continue_later=lambda: continuations.append("again"),
    )
    # Then it stopped cleanly: one call's records billed (the oldest hour's: a call holds one hour), the rest left
    # for later, and a continuation requested
    assert first.succeeded == sum(hour == hour_key(START) for _, _, hour in expected) < 25
    assert first.more_work
    assert first.continued
    assert continuations == ["again"]
    assert first.unprocessed_after_retries == 0
    assert not first.failed
    # When the continuation runs with time to spare
    second = flush_and_continue(
        world.deps(), remaining_ms=lambda: 900_000, continue_later=lambda: continuations.append("again")
    )
    # Then it finishes the rest, asks for no further run, and the ledger holds every total exactly once
    assert second.succeeded == len(expected) - first.succeeded
    assert not second.more_work
    assert continuations == ["again"]  # no further run asked for
    assert world.ledger_totals() == dict(expected)


def _metering_entries(world: World, license_arn: str) -> dict[datetime, MeteringEntry]:
    """The buyer's records in the ledger, by hour, as the flush stores them."""
    ledger = DynamoMeteringLedger(world.dynamodb, world.settings.metering_table, retention=FIXED_DATE_RETENTION)
    hours = [START + timedelta(hours=n) for n in range(4)]
    return {
        hour: entry
        for hour in hours
        for entry in ledger.entries_of_hour(hour)
        if entry.record.license_arn == license_arn
    }


def test_hours_sent_early_as_final_usage_are_not_reset_and_resent_when_the_flush_seals_them(world: World) -> None:
    # Given a buyer with usage in 09:00 and in 10:00
    leaving = world.customers[0]
    world.move_to(START + timedelta(minutes=50))
    world.record([{**_usage(leaving, "before", 4), "timestamp": (START + timedelta(minutes=50)).isoformat()}])
    world.move_to(START + timedelta(hours=1, minutes=1))
    world.record([{**_usage(leaving, "during", 7), "timestamp": (START + timedelta(hours=1, minutes=1)).isoformat()}])
    # who unsubscribes at 10:02: the final usage step seals and sends both hours (09:00 closes only at 10:05)
    cutoff = START + timedelta(hours=1, minutes=2)
    world.move_to(cutoff)
    world.marketplace.admin.unsubscribe(leaving["agreement_id"])
    repository = DynamoCustomerRepository(world.dynamodb, world.settings.customers_table)
    ref = CustomerRef(PRODUCT.code, license_arn=leaving["license_arn"])
    current = repository.get(ref)
    assert current is not None
    ending = replace(current, state=SubscriptionState.ENDING, state_changed_at=cutoff, final_usage_cutoff=cutoff)
    repository.put(ending)
    world.move_to(cutoff + timedelta(seconds=world.settings.final_usage_delay_seconds))
    final = send_customer_usage(ending, world.deps(), out_of_time=lambda: False)
    assert (final.records, final.sent) == (2, 2)
    sent = {h: (e.status, e.metering_record_id) for h, e in _metering_entries(world, leaving["license_arn"]).items()}
    assert [status for status, _ in sent.values()] == ["sent", "sent"]
    # When the hourly flush seals 09:00, Marketplace ends the subscription, and the next flush seals 10:00
    world.move_to(START + timedelta(hours=1, minutes=6))
    first = flush(world.deps(), remaining_ms=lambda: 900_000)
    world.marketplace.admin.finalize(leaving["agreement_id"])
    world.move_to(START + timedelta(hours=2, minutes=6))
    second = flush(world.deps(), remaining_ms=lambda: 900_000)
    # Then neither flush sends those records again, and the ledger keeps each one's outcome and MeteringRecordId
    assert (first.records_sent, second.records_sent) == (0, 0)
    assert second.not_subscribed == 0
    after = {h: (e.status, e.metering_record_id) for h, e in _metering_entries(world, leaving["license_arn"]).items()}
    assert after == sent
    assert world.ledger_totals() == {
        (leaving["license_arn"], "api_calls", "2026-11-26T09"): Decimal(4),
        (leaving["license_arn"], "api_calls", "2026-11-26T10"): Decimal(7),
    }


def _usage(customer: dict[str, Any], event_id: str, quantity: int) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "product_code": PRODUCT.code,
        "license_arn": customer["license_arn"],
        "customer_aws_account_id": customer["account_id"],
        "dimension": "api_calls",
        "quantity": quantity,
    }


class _KilledBeforeSeal:
    """The real ledger; the process dies after an hour's records were stored, before the cursor moved past it."""

    def __init__(self, inner: DynamoMeteringLedger) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def seal(self, hour: datetime, *, dry_run: bool = False) -> bool:
        if hour == START:
            raise SystemExit("flush process killed")
        return bool(self.inner.seal(hour, dry_run=dry_run))


def test_final_usage_after_a_flush_killed_before_moving_the_cursor_sends_each_record_once(world: World) -> None:
    # Given a buyer's usage in 09:00, and a flush killed after storing 09:00's records, before sealing it
    leaving = world.customers[0]
    world.move_to(START + timedelta(minutes=50))
    world.record([{**_usage(leaving, "u1", 4), "timestamp": (START + timedelta(minutes=50)).isoformat()}])
    world.move_to(START + timedelta(hours=1, minutes=6))
    killed = world.deps()
    with pytest.raises(SystemExit):
        flush(replace(killed, ledger=_KilledBeforeSeal(killed.ledger)), remaining_ms=lambda: 900_000)  # type: ignore[arg-type]
    # When the buyer unsubscribes and the final usage step runs (09:00 is both pending and not sealed)
    cutoff = START + timedelta(hours=1, minutes=7)
    world.move_to(cutoff)
    repository = DynamoCustomerRepository(world.dynamodb, world.settings.customers_table)
    current = repository.get(CustomerRef(PRODUCT.code, license_arn=leaving["license_arn"]))
    assert current is not None
    ending = replace(current, state=SubscriptionState.ENDING, state_changed_at=cutoff, final_usage_cutoff=cutoff)
    repository.put(ending)
    world.move_to(cutoff + timedelta(seconds=world.settings.final_usage_delay_seconds))
    report = send_customer_usage(ending, world.deps(), out_of_time=lambda: False)
    # Then the hour's record is sent once and billed once
    assert world.deps().ledger.next_hour_to_seal() == START
    assert (report.records, report.sent, report.failed) == (1, 1, 0)
    assert world.ledger_totals() == {(leaving["license_arn"], "api_calls", "2026-11-26T09"): Decimal(4)}
    assert len(world.marketplace.admin.calls(operation="BatchMeterUsage")) == 1


def test_an_hour_with_more_tag_sets_than_marketplace_takes_in_one_record_is_still_billed_in_full(world: World) -> None:
    # Given one buyer's hour whose events allocate usage to 2,600 distinct tag sets (Marketplace takes 2,500 per record)
    buyer = world.customers[0]
    moment = START + timedelta(minutes=10)
    world.move_to(moment)
    for batch in range(26):
        allocations = [{"tags": {"request": f"r{batch:02d}-{n:02d}"}, "quantity": 1} for n in range(100)]
        event = {**_usage(buyer, f"tagged-{batch}", 100), "timestamp": moment.isoformat(), "allocations": allocations}
        world.record([event])
    # When the hour is flushed
    world.move_to(START + timedelta(hours=1, minutes=6))
    report = flush(world.deps(), remaining_ms=lambda: 900_000)
    # Then the whole quantity is billed (not parked), within Marketplace's allocation limit
    assert (report.succeeded, dict(report.failed)) == (1, {})
    assert world.ledger_totals() == {(buyer["license_arn"], "api_calls", "2026-11-26T09"): Decimal(2600)}
    (entry,) = world.marketplace.admin.ledger(product_code=PRODUCT.code)
    assert len(entry["allocations"]) == 2500
    assert sum(Decimal(a["quantity"]) for a in entry["allocations"]) == 2600


def test_usage_landing_in_an_hour_after_its_record_was_stored_is_reported_not_silently_dropped(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a leaving buyer whose 10:00 hour was sent early as final usage (7)
    leaving = world.customers[0]
    world.move_to(START + timedelta(hours=1, minutes=1))
    world.record([{**_usage(leaving, "during", 7), "timestamp": (START + timedelta(hours=1, minutes=1)).isoformat()}])
    cutoff = START + timedelta(hours=1, minutes=2)
    repository = DynamoCustomerRepository(world.dynamodb, world.settings.customers_table)
    current = repository.get(CustomerRef(PRODUCT.code, license_arn=leaving["license_arn"]))
    assert current is not None
    ending = replace(current, state=SubscriptionState.ENDING, state_changed_at=cutoff, final_usage_cutoff=cutoff)
    repository.put(ending)
    world.move_to(cutoff + timedelta(seconds=world.settings.final_usage_delay_seconds))
    assert send_customer_usage(ending, world.deps(), out_of_time=lambda: False).sent == 1
    # and a write accepted before the cutoff that landed only now, outside the in-flight margin (a broken assumption)
    straggler = replace(next(iter(world.store().events_of_hour(START + timedelta(hours=1)))), event_id="straggler")
    assert world.store().add([straggler]) == [True]
    caplog.clear()
    metrics.clear_metrics()
    # When the flush seals 10:00
    world.move_to(START + timedelta(hours=2, minutes=6))
    report = flush(world.deps(), remaining_ms=lambda: 900_000)
    # Then the stored total stands (Marketplace would refuse another as DuplicateRecord), and the difference is logged
    assert (report.records_sent, report.duplicates) == (0, 0)
    assert world.ledger_totals() == {(leaving["license_arn"], "api_calls", "2026-11-26T10"): Decimal(7)}
    changed = [r for r in caplog.records if r.getMessage() == "sealed total differs from the stored one"]
    assert [(r.levelname, r.__dict__["stored"], r.__dict__["sealed"]) for r in changed] == [("WARNING", "7", "14")]
    # and counted, for the alarm
    assert metrics.metric_set["SealedTotalMismatch"]["Value"] == [1.0]
    metrics.clear_metrics()


def _tagged(customer: dict[str, Any], event_id: str, batch: int, moment: datetime) -> dict[str, Any]:
    """100 units over 100 tag sets of five long tags: about 190 KB of allocations in its record."""
    allocations = [
        {"tags": {f"k{t}" + "x" * 98: f"{batch:03d}-{n:03d}-" + "v" * 248 for t in range(5)}, "quantity": 1}
        for n in range(100)
    ]
    return {**_usage(customer, event_id, 100), "timestamp": moment.isoformat(), "allocations": allocations}


def test_records_too_big_for_one_request_together_go_in_several_calls_and_all_are_billed(world: World) -> None:
    # Given an hour whose six records (one per buyer, 100 long tag sets each) take more than 1 MB together
    moment = START + timedelta(minutes=10)
    world.move_to(moment)
    for n, buyer in enumerate(world.customers):
        world.record([_tagged(buyer, f"big-{n}", n, moment)])
    # When the hour is flushed
    world.move_to(START + timedelta(hours=1, minutes=6))
    report = flush(world.deps(), remaining_ms=lambda: 900_000)
    # Then no request exceeded BatchMeterUsage's 1 MB (the emulator refuses those), and every unit is billed
    calls = world.marketplace.admin.calls(operation="BatchMeterUsage")
    assert [c["http_status"] for c in calls] == [200, 200]
    assert (report.succeeded, dict(report.failed)) == (6, {})
    assert world.ledger_totals() == {
        (b["license_arn"], "api_calls", "2026-11-26T09"): Decimal(100) for b in world.customers
    }


def test_a_record_too_big_for_any_request_keeps_its_largest_tag_sets_and_is_billed_in_full(world: World) -> None:
    # Given one buyer's hour with 700 distinct long tag sets: its allocations alone would take over 1 MB
    buyer = world.customers[0]
    moment = START + timedelta(minutes=10)
    world.move_to(moment)
    for batch in range(7):
        world.record([_tagged(buyer, f"huge-{batch}", batch, moment)])
    # When the hour is flushed
    world.move_to(START + timedelta(hours=1, minutes=6))
    report = flush(world.deps(), remaining_ms=lambda: 900_000)
    # Then it is accepted and billed in full; the tag sets that did not fit are counted as untagged usage
    assert (report.succeeded, dict(report.failed)) == (1, {})
    (entry,) = world.marketplace.admin.ledger(product_code=PRODUCT.code)
    assert Decimal(entry["quantity"]) == 700
    assert sum(Decimal(a["quantity"]) for a in entry["allocations"]) == 700
    untagged = [a for a in entry["allocations"] if not a.get("tags")]
    assert len(untagged) == 1
    assert 0 < Decimal(untagged[0]["quantity"]) < 700


class _Timers:
    """The lifecycle queue's delayed messages, on the world's moved clock (our FinalUsage port, in memory)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.due: list[tuple[datetime, CustomerRef]] = []
        self.lifecycle: Lifecycle | None = None

    def schedule(self, ref: CustomerRef, delay_seconds: float) -> None:
        self.due.append((self.world.clock.now() + timedelta(seconds=min(900, delay_seconds)), ref))

    def send(self, customer: Customer, out_of_time: Any) -> None:
        send_customer_usage(customer, self.world.deps(), out_of_time=out_of_time)

    def move_to(self, moment: datetime) -> None:
        """Move the world's clock to ``moment``, each timer running at its own time on the way, as SQS delivers."""
        assert self.lifecycle is not None
        while due := sorted((at, ref.key, ref) for at, ref in self.due if at <= moment):
            at, _, ref = due[0]
            self.due.remove((at, ref))
            self.world.move_to(max(at, self.world.clock.now()))
            self.lifecycle.continue_ending(ref, lambda: False)
        self.world.move_to(moment)


def _lifecycle(world: World) -> tuple[Lifecycle, _Timers]:
    timers = _Timers(world)
    timers.lifecycle = Lifecycle(
        settings=replace(world.settings, final_usage_delay_seconds=90),
        events=DynamoLifecycleStore(world.dynamodb, world.settings.customers_table),
        customers=DynamoCustomerRepository(world.dynamodb, world.settings.customers_table),
        entitlements=Boto3EntitlementReader(world.marketplace.entitlement()),
        publisher=RecordingPublisher(),
        final_usage=timers,
        clock=world.clock,
        agreement_entitlements=MarketplaceAgreementEntitlements(world.marketplace.agreement()),
    )
    return timers.lifecycle, timers


def _leave(world: World, lifecycle: Lifecycle, customer: dict[str, Any]) -> None:
    """The buyer unsubscribes in Marketplace, and AWS's Purchase Agreement Ended (its published shape) arrives."""
    world.marketplace.admin.unsubscribe(customer["agreement_id"])
    parties = Parties(buyer_account=customer["account_id"], agreement_id=customer["agreement_id"])
    event = eventbridge_example("ended_proposer.json", parties, at=world.clock.now())
    lifecycle.handle(parse_notification(json.dumps(event), message_id="m", sent_at=world.clock.now()))


def _refused(error: UsageRejected) -> set[int]:
    return {int(e.field.split("]")[0].removeprefix("events[")) for e in error.errors}


@pytest.mark.parametrize("seed", [3, 4])
def test_every_accepted_unit_is_billed_with_leaving_buyers_and_hours_over_the_maximum(world: World, seed: int) -> None:
    # Given usage over three hours, some of it huge (an hour of one buyer over Marketplace's 2,147,483,647 a record),
    # and two buyers leaving along the way (AWS's Ended event), their usage still sent during their final hour
    rng = random.Random(seed)
    lifecycle, timers = _lifecycle(world)
    leaving = {world.customers[0]["license_arn"]: 2, world.customers[1]["license_arn"]: 6}  # at steps 2 and 6
    accepted: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    refused = 0
    refusals: list[str] = []
    n = 0
    for step in range(12):
        now = START + timedelta(minutes=15 * step + rng.randint(0, 14))
        timers.move_to(now)
        for customer in world.customers:
            if leaving.get(customer["license_arn"]) == step:
                _leave(world, lifecycle, customer)
        events = [_event(rng, world, n + i, now - timedelta(minutes=rng.randint(0, 10))) for i in range(20)]
        for event in events:
            if event["dimension"] == "api_calls" and event["license_arn"] not in leaving and rng.random() < 0.1:
                event["quantity"] = MAX_INTEGER_QUANTITY - rng.randint(0, 5)
                event.pop("allocations", None)
        n += len(events)
        while events:
            try:
                result = world.record(events)
            except UsageRejected as error:
                # a leaving buyer's usage after their cutoff: refused at the door (422), so never "accepted, unbilled"
                bad = _refused(error)
                refusals.extend(events[i]["license_arn"] for i in bad)
                refused += len(bad)
                events = [e for i, e in enumerate(events) if i not in bad]
                continue
            for event in events:
                if event["event_id"] in result.accepted:
                    accepted[(event["license_arn"], event["dimension"])] += Decimal(str(event["quantity"]))
            break
        if step % 4 == 3:
            timers.move_to(now + timedelta(minutes=6))
            flush(world.deps(), remaining_ms=lambda: 900_000)
    # When the hours close and are flushed (long enough for what spilled over to be billed too)
    for hours in range(4, 8):
        timers.move_to(START + timedelta(hours=hours, minutes=10))
        report = flush(world.deps(), remaining_ms=lambda: 900_000)
        assert report.left_pending == 0
    # Then every accepted unit is billed, once; leaving buyers' by the end of their subscription, and no record is
    # over the maximum
    billed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for entry in world.marketplace.admin.ledger(product_code=PRODUCT.code):
        billed[(entry["license_arn"], entry["dimension"])] += Decimal(entry["quantity"])
        assert Decimal(entry["quantity"]) <= MAX_INTEGER_QUANTITY
        if entry["license_arn"] in leaving:
            ended = world.marketplace.admin.get_subscription(_agreement(world, entry["license_arn"]))
            assert ended["status"] == "ended"
            assert entry["received_at"] < ended["ended_at"]
    assert set(refusals) <= set(leaving)
    assert dict(billed) == dict(accepted)
    assert refused > 0  # the cutoff really was exercised
    assert max(accepted.values()) > MAX_INTEGER_QUANTITY  # and hours over the maximum
    assert all(c["error_code"] is None for c in world.marketplace.admin.calls(operation="BatchMeterUsage"))


def _agreement(world: World, license_arn: str) -> str:
    return next(str(c["agreement_id"]) for c in world.customers if c["license_arn"] == license_arn)


def test_an_hour_over_the_maximum_quantity_is_billed_over_the_next_hours_not_parked(world: World) -> None:
    # Given two events of 2,147,483,647 units for one buyer and hour, each accepted
    buyer = world.customers[0]
    moment = START + timedelta(minutes=10)
    world.move_to(moment)
    events = [{**_usage(buyer, f"max-{n}", MAX_INTEGER_QUANTITY), "timestamp": moment.isoformat()} for n in range(2)]
    assert len(world.record(events).accepted) == 2
    # When that hour and the next are flushed
    for hours in (1, 2):
        world.move_to(START + timedelta(hours=hours, minutes=6))
        report = flush(world.deps(), remaining_ms=lambda: 900_000)
        assert (report.succeeded, dict(report.failed)) == (1, {})
    # Then each hour's record holds the maximum: every unit is billed, none parked as too large
    assert world.ledger_totals() == {
        (buyer["license_arn"], "api_calls", "2026-11-26T09"): Decimal(MAX_INTEGER_QUANTITY),
        (buyer["license_arn"], "api_calls", "2026-11-26T10"): Decimal(MAX_INTEGER_QUANTITY),
    }
