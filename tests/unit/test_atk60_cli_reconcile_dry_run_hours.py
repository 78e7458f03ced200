"""Attack 60 on da4405a: the ledger now keeps the mode each hour was sealed in, and the flush's reconciliation passes
over hours sealed in dry run; the operator's ``cli reconcile`` (operations/reconcile.py) does not read it
(``MeteringView`` has no ``sealed_in_dry_run``). Over an emergency stop's hours it names as mismatches what the flush's
reconciliation was just fixed to keep quiet: a record the dry run parked as ``failed`` ("never billed"), the same
record, billed by the integration billing during the stop, as "billed after all ... the flush's reconciliation
corrects the ledger" (it no longer does: the two now contradict each other), and that integration's billing of our
buyer in an hour with no record of ours as "in CloudTrail but not in our ledger".

Scenario (attack 57's): live until 10:30; emergency stop; the dry-run flush down until 11:06 the next day, so 10:00 and
11:00 are parked out of the window; the old integration billed the 10:00 hour (10 units, "old-10") and 12:00 (5
units, "old-12", no usage of 12:00 reached this stack); live again at 12:00 the next day; the operator runs
``cli reconcile`` over the stop.
Invariant 2: no hour sealed only in dry run reports differences. Why it matters: the operator's tool raises, and
explains wrongly, the differences the reconciliation's alarm was fixed not to raise; an operator acting on "billed
after all" (or redriving "failed") acts on another integration's billing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from functions.flush.audit import TrailResult
from operations.queries import OperationsDeps, select
from operations.reconcile import reconcile
from tests.unit.review23_world import LICENCE_ARN, hour, logged_world
from tests.unit.test_review23b_redrive_parked_carry import LedgerView

DAY = timedelta(days=1)


def test_cli_reconcile_reports_no_differences_in_hours_sealed_in_dry_run() -> None:
    world, marketplace = logged_world()
    live = world.deps
    dry = world.dry_run_deps()
    world.subscribe()
    for h in (8, 9):
        world.at(hour(h, 10))
        assert world.record(world.usage_event(f"u{h}", h)).accepted == (f"u{h}",)
    world.at(hour(10, 7))
    world.deps = dry  # 10:30: the emergency stop
    for h in (10, 11):
        world.clock.set(hour(h, 40))
        assert world.record(world.usage_event(f"u{h}", h)).accepted == (f"u{h}",)
    for h, units in ((10, 10), (12, 5)):
        marketplace.logged.append(
            TrailResult(LICENCE_ARN, None, "calls", hour(h), Decimal(units), "Success", f"old-{h}", hour(h + 1))
        )
    world.clock.set(hour(11) + DAY)
    world.at(hour(11, 7) + DAY)  # the dry-run flush: 10:00 .. 10:00 the next day sealed in dry run
    assert all(world.ledger.sealed_in_dry_run(hour(h)) for h in (10, 11, 12))
    world.deps = live
    world.at(hour(12, 7) + DAY)

    operations = OperationsDeps(world.settings, world.customers, world.usage, LedgerView(world), world.clock)
    found = reconcile(operations, lambda sink: marketplace, select(operations, since=hour(10), until=hour(12)))
    mismatches = [(r.hour.hour, r.mismatch) for r in found.mismatches]
    assert mismatches == [], f"differences reported in hours sealed in dry run: {mismatches}"
