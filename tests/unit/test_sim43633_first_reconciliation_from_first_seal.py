"""Simulator seed 43633 (drawn settings): a stack whose flushes all died for a day before one ever reconciled. A run
sent hour 08:00 and was killed before writing Marketplace's answer; the next that could send, a day later, parked the
record as too old (TimestampOutOfBounds) though Marketplace had billed it, and the first reconciliation, which
started 24 hours before itself, never read that hour: the ledger reported billed units as lost. The live flush now
starts the reconciliation where it starts sending, before it sends (``begin_reconciliation``); a dry-run flush
starts nothing (what it sealed was never billed), and every run starts no earlier than the oldest hour still
checkable (CloudTrail's 90 days, the retention)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from functions.flush.audit import AuditDeps, HourReconciled, TrailResult, reconcile_due
from functions.flush.records import RetentionFloor
from functions.flush.service import flush
from tests.fakes import InMemoryLedger, Killed, LoggedMarketplace
from tests.unit.review23_world import LICENCE_ARN, T0, World, hour


def test_a_record_parked_as_too_old_though_billed_before_any_reconciliation_is_found_billed() -> None:
    world = World(marketplace=LoggedMarketplace)
    marketplace = world.marketplace
    assert isinstance(marketplace, LoggedMarketplace)
    world.subscribe()
    world.at(hour(8, 10))
    assert world.record(world.usage_event("u1", 40)).accepted == ("u1",)
    world.at(hour(9, 5))
    marketplace.killing = True
    with pytest.raises(Killed):
        world.at(hour(9, 7))  # the 09:06 flush sends hour 08:00, billed, and dies
    marketplace.killing = False
    world.clock.set(hour(10) + timedelta(days=1))  # no flush for a day (the schedule out, or each one dying)
    world.at(hour(10, 7) + timedelta(days=1))  # the 10:06 flush: hour 08:00 is past Marketplace's 24 hours
    (parked,) = world.ledger.entries_of_hour(hour(8))
    assert (parked.status, parked.record.quantity) == ("failed", Decimal(40))
    assert world.billed_hours() == {hour(8): 40}

    reported: list[HourReconciled] = []
    now = hour(12) + timedelta(days=1)
    world.reconcile(now, lambda: False, reported.append)

    assert reported[0].hour == T0 - timedelta(hours=24), f"the first reconciliation started at {reported[0].hour}"
    assert [r.findings for r in reported if r.hour == hour(8)] == [[]]
    (entry,) = world.ledger.entries_of_hour(hour(8))
    billed_id = next(iter(marketplace.billed.values()))[1]
    assert (entry.status, entry.metering_record_id, entry.record.quantity) == ("sent", billed_id, Decimal(40))


def test_a_dry_run_starts_no_reconciliation_and_its_hours_are_passed_over_once_live() -> None:
    world = World()
    world.subscribe()
    world.deps = world.dry_run_deps()
    for h in range(8, 14):  # a rehearsal: usage every hour, each sealed in dry run
        world.at(hour(h, 10))
        assert world.record(world.usage_event(f"u{h}", h)).accepted == (f"u{h}",)
    world.at(hour(14, 10))
    assert world.ledger.reconciled is None
    world.deps = replace(world.deps, settings=world.settings, gateway=world.marketplace)  # live
    flush(world.deps, remaining_ms=lambda: 900_000)
    assert world.ledger.reconciled == hour(14) - timedelta(hours=24)  # begun a day back
    # another integration billed the buyer beside the rehearsal: not ours to report
    billed_by_another = TrailResult(
        LICENCE_ARN, None, "calls", hour(9), Decimal(7), "Success", "another-1", hour(10, 1)
    )
    reported: list[HourReconciled] = []
    now = hour(18, 30)
    world.ledger.next_hour = hour(18)
    deps = AuditDeps(world.ledger.entries_of_hour, Listed([billed_by_another]), mark=world.ledger)
    reconcile_due(deps, now, lambda: False, reported.append)
    assert {r.hour for r in reported} >= {hour(h) for h in range(8, 14)}
    assert [f for r in reported for f in r.findings] == []


class Listed:
    def __init__(self, results: list[TrailResult]) -> None:
        self.results = results

    def metering_results(self, start: datetime, end: datetime | None = None) -> Iterator[TrailResult]:
        return iter([r for r in self.results if start <= r.event_time and (end is None or r.event_time <= end)])


def first_hour_reconciled(floor: RetentionFloor, mark: datetime | None, now: datetime) -> datetime:
    ledger = InMemoryLedger()
    ledger.floor = floor
    ledger.reconciled = mark
    ledger.next_hour = now.replace(minute=0)
    trail = Listed([])
    reported: list[HourReconciled] = []
    reconcile_due(AuditDeps(ledger.entries_of_hour, trail, mark=ledger), now, lambda: False, reported.append)
    return reported[0].hour


NOW = datetime(2026, 12, 6, 21, 12, tzinfo=UTC)


def test_a_reconciliation_reaches_back_no_further_than_cloudtrail_history() -> None:
    reached = first_hour_reconciled(RetentionFloor(NOW - timedelta(days=300), 400), NOW - timedelta(days=200), NOW)
    assert reached == datetime(2026, 9, 7, 22, tzinfo=UTC)


def test_a_reconciliation_reaches_back_no_further_than_the_retention() -> None:
    reached = first_hour_reconciled(RetentionFloor(NOW - timedelta(days=60), 30), NOW - timedelta(days=60), NOW)
    assert reached == datetime(2026, 11, 6, 22, tzinfo=UTC)


def test_a_reconciliation_live_metering_never_started_starts_a_day_back() -> None:
    assert first_hour_reconciled(RetentionFloor(), None, NOW) == datetime(2026, 12, 5, 21, tzinfo=UTC)
