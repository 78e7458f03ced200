"""Attack 60 on da4405a: an hour sealed LIVE whose records the live flush sent, Marketplace billing the call but its
answer lost (the flush killed: the records stay pending), was passed over by the reconciliation once the operator's
emergency stop followed: the next flush, in dry run, answered the pending records ``DryRun``, every entry of the hour
was then ``dry_run``, and the reconciliation took the hour for one an earlier version sealed in dry run (told by its
statuses alone). Marketplace billed 9 units the ledger calls "stored, never billed", and no difference was reported.

Scenario: usage at 09:10; the 10:06 live flush seals 09:00, Marketplace bills its call, the flush dies before reading
the answer; 10:20 emergency stop (dry-run); the 11:06 dry-run flush answers the pending 09:00 record DryRun; live
again at 14:00, the reconciliation runs.

Fixed: the ledger keeps the first hour it sealed keeping each hour's mode (``modes_since`` on the cursor); from it on,
an hour without a dry-run marker was sealed live, and is reconciled whole whatever its records' statuses; a record of
it a dry run answered is reported (``answered in dry run, its hour sealed live``), with what CloudTrail shows billed,
and never rewritten as billed (CloudTrail does not tell this stack's call from another integration's). Left (on the
attack's branch, ``atk60`` 4da9d42): the same record through a leaving buyer's final-usage step, its hour then sealed
in dry run, is the dry run's."""

from __future__ import annotations

from decimal import Decimal

import pytest

from functions.flush.audit import ANSWERED_IN_DRY_RUN, HourReconciled
from operations.queries import OperationsDeps, select
from operations.reconcile import reconcile
from tests.fakes import Killed, LoggedMarketplace
from tests.unit.review23_world import World, hour, logged_world
from tests.unit.test_review23b_redrive_parked_carry import LedgerView


def _billed_then_answered_in_dry_run() -> tuple[World, LoggedMarketplace]:
    world, marketplace = logged_world()
    live = world.deps
    world.subscribe()
    world.at(hour(9, 10))
    assert world.record(world.usage_event("u9", 9)).accepted == ("u9",)
    marketplace.killing = True
    with pytest.raises(Killed):
        world.at(hour(10, 7))  # the 10:06 live flush seals 09:00, Marketplace bills it, the flush dies
    marketplace.killing = False
    assert world.billed_hours() == {hour(9): 9}
    assert not world.ledger.sealed_in_dry_run(hour(9))  # sealed live

    world.clock.set(hour(10, 20))
    world.deps = world.dry_run_deps()  # the emergency stop
    world.at(hour(11, 7))  # the 11:06 dry-run flush answers the pending 09:00 record DryRun
    assert [e.status for e in world.ledger.entries_of_hour(hour(9))] == ["dry_run"]
    world.deps = live  # live again at 14:00
    world.at(hour(14, 7))
    return world, marketplace


def test_a_live_sealed_hour_billed_then_answered_by_the_dry_run_is_reported() -> None:
    world, _ = _billed_then_answered_in_dry_run()
    reported: list[HourReconciled] = []
    world.reconcile(hour(14, 7), lambda: False, reported.append)
    findings = [(f.kind, f.detail) for r in reported if r.hour == hour(9) for f in r.findings]
    assert hour(9) in [r.hour for r in reported]
    ((kind, detail),) = findings
    assert kind == ANSWERED_IN_DRY_RUN
    assert "CloudTrail shows 9 units billed" in detail, detail
    # reported, not rewritten: CloudTrail cannot say whose call billed it
    (entry,) = world.ledger.entries_of_hour(hour(9))
    assert (entry.status, entry.record.quantity) == ("dry_run", Decimal(9))


def test_cli_reconcile_reports_it_as_the_reconciliation_does() -> None:
    world, marketplace = _billed_then_answered_in_dry_run()
    operations = OperationsDeps(world.settings, world.customers, world.usage, LedgerView(world), world.clock)
    found = reconcile(operations, lambda sink: marketplace, select(operations, since=hour(9), until=hour(9)))
    assert [(r.mismatch, r.sealed, r.cloudtrail) for r in found.mismatches] == [
        (ANSWERED_IN_DRY_RUN, Decimal(9), Decimal(9))
    ]


def test_a_live_sealed_hour_answered_by_the_dry_run_before_any_send_is_reported_never_billed() -> None:
    """Nothing reached Marketplace before the stop: the hour's usage was never billed by anyone; the operator is told
    (the emergency stop kept it from being billed)."""
    world, marketplace = logged_world()
    live = world.deps
    world.subscribe()
    world.at(hour(9, 10))
    assert world.record(world.usage_event("u9", 9)).accepted == ("u9",)
    marketplace.unavailable = 1_000
    world.at(hour(10, 7))  # sealed live, every call throttled: left pending
    marketplace.unavailable = 0
    assert [e.status for e in world.ledger.entries_of_hour(hour(9))] == ["pending"]
    world.clock.set(hour(10, 20))
    world.deps = world.dry_run_deps()
    world.at(hour(11, 7))
    world.deps = live
    world.at(hour(14, 7))
    reported: list[HourReconciled] = []
    world.reconcile(hour(14, 7), lambda: False, reported.append)
    findings = [(f.kind, f.detail) for r in reported if r.hour == hour(9) for f in r.findings]
    never = "answered DryRun in an hour sealed live: never billed by this stack"
    assert findings == [(ANSWERED_IN_DRY_RUN, never)]
    assert world.billed_hours() == {}
