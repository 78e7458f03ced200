"""Attack 65 on cc24175 (9d55bf5's ``park_dry_run_hours``): a leaving buyer's final-usage step in dry run (the
rehearsal, or an emergency stop) places what their final hour carries on in an earlier hour of theirs sealed in dry
run (``placed_carries``: only hours sealed in the mode in force), writes the records pending, and is killed before the
dry-run answers are written (a Lambda timeout). Go-live comes next. The final hour (10:00, not sealed yet) is then
sealed LIVE by the flush and its record, the step's, billed live at the maximum; the carried remainder, the same
hour's usage, sits pending in the dry-run hour 09:00, and the first live flush (or the step's live retry) now answers
it ``dry_run`` (``park_dry_run_hours``) instead of sending it. 09:00 is passed over by the reconciliation (sealed in
dry run, nothing of it answered by Marketplace), and 10:00 reconciles clean (its sealed total is its usage less what
it carried on): 1,852,516,353 units of an hour this stack billed are neither billed, parked nor reported.

Before the change (47f2052) the live flush sent the pending carry record, and the units were billed (attack 61's
test ``test_atk61_carry_placed_in_dry_run_answered_dry_run_live.py``, 604aa6d, passes on 47f2052 and fails again
now): the regression re-creates what 5cba041 reverted ("carries' fate depended on who sent first"), and contradicts
docs/metering.md's Left ("a carry a dry-run final usage placed in an hour is sent by whichever of the flush or the
step's retry comes first, in the mode in force then"): both now answer it dry_run while the mode in force is live.

Scenario: the rehearsal (dry-run) from 08:00; the dry-run flush seals 08:00 and 09:00; the buyer's 4,000,000,000
units at 10:10 (over one record's maximum, 2,147,483,647); they leave (cutoff 10:30); the step at 10:40 (dry run)
places the carry in 09:00, writes its records and is killed sending; go-live at 10:50; the flushes (and, in the
second test, the step's live retry first) and the reconciliation to 14:10.
Invariant 2 (no usage lost silently: every record of a live hour is billed or reported) and 4 (a crash, then a mode
switch, leaves nothing misclassified). Money: 1,852,516,353 units unbilled and unreported, for an hour this stack
billed the first 2,147,483,647 units of.

Fixed: ``park_dry_run_hours`` leaves a placed carry to be sent in the mode in force (``_placed_carries``), as before
9d55bf5: the units are billed, the final hour's and its carry's alike.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from functions.customers.model import Customer
from functions.flush.audit import HourReconciled
from functions.flush.customer import send_customer_usage
from functions.flush.service import FlushDeps
from functions.usage.model import MAX_INTEGER_QUANTITY
from tests.fakes import Killed, LoggedMarketplace
from tests.unit.review23_world import CARRIED, OVER_MAXIMUM, World, hour


def _step_killed_in_the_rehearsal() -> tuple[World, LoggedMarketplace, FlushDeps, Customer]:
    """Up to the dry-run step's death at 10:40: its records written, the carry placed in 09:00 (sealed in dry run)."""
    world = World(marketplace=lambda clock: LoggedMarketplace(clock))
    marketplace = world.marketplace
    assert isinstance(marketplace, LoggedMarketplace)
    live, gateway, leaving = world.rehearse_a_leaver_over_the_maximum()
    assert world.ledger.sealed_in_dry_run(hour(9))

    world.clock.set(hour(10, 40))  # the final-usage step, in dry run: places the carry, writes, dies sending
    gateway.dying = True
    with pytest.raises(Killed):
        send_customer_usage(leaving, world.deps, out_of_time=lambda: False)
    assert [where for _, plan in world.ledger.placements_into(hour(11)) for where, _ in plan] == [hour(9)]
    assert [(e.status, e.record.quantity) for e in world.ledger.entries_of_hour(hour(9))] == [
        ("pending", Decimal(CARRIED))
    ]
    world.clock.set(hour(10, 50))
    world.deps = live  # go-live
    return world, marketplace, live, leaving


def _accounted(world: World) -> tuple[int, int, list[tuple[int, str]], dict[int, str]]:
    """Units billed, units parked (failed: counted in RecordsFailed), the reconciliation's findings to 14:10, and
    the buyer's records' statuses by hour."""
    reported: list[HourReconciled] = []
    world.reconcile(world.clock.now(), lambda: False, reported.append)
    findings = [(r.hour.hour, f.kind) for r in reported for f in r.findings]
    billed = sum(world.billed_hours().values())
    entries = [e for h in (8, 9, 10, 11) for e in world.ledger.entries_of_hour(hour(h))]
    parked = sum(int(e.record.quantity) for e in entries if e.status not in ("sent", "dry_run", "pending"))
    return billed, parked, findings, {e.record.hour.hour: e.status for e in entries}


def test_the_first_live_flush_answers_a_live_final_hours_carry_dry_run() -> None:
    world, _, _, _ = _step_killed_in_the_rehearsal()
    world.at(hour(14, 10))  # flushes at 11:06 (seals 10:00 live), 12:06 (seals 11:00), ...; no retry of the step

    billed, parked, findings, statuses = _accounted(world)
    assert world.billed_hours().get(hour(10)) == MAX_INTEGER_QUANTITY  # the final hour: this stack's, billed live
    assert world.billed_hours() == {hour(9): CARRIED, hour(10): MAX_INTEGER_QUANTITY}
    shown = (world.billed_hours(), statuses, findings)
    assert billed + parked == OVER_MAXIMUM or findings, (
        f"{OVER_MAXIMUM - billed - parked} units of the final hour neither billed, parked nor reported: {shown}"
    )


def test_the_steps_live_retry_answers_it_dry_run_too() -> None:
    world, _, live, leaving = _step_killed_in_the_rehearsal()
    world.clock.set(hour(10, 52))  # the step's retry (SQS redelivery), live, before any live flush
    report = send_customer_usage(leaving, live, out_of_time=lambda: False)
    world.at(hour(14, 10))

    billed, parked, findings, statuses = _accounted(world)
    assert world.billed_hours() == {hour(9): CARRIED, hour(10): MAX_INTEGER_QUANTITY}
    shown = (world.billed_hours(), statuses, report, findings)
    assert billed + parked == OVER_MAXIMUM or findings, (
        f"{OVER_MAXIMUM - billed - parked} units of the final hour neither billed, parked nor reported: {shown}"
    )
