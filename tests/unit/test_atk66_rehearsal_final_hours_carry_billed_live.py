"""Attack 66 on 4e1afeb (``park_dry_run_hours``'s exception for a placed carry, ``_placed_carries``): a leaving buyer's
carry placed in an hour sealed in dry run is sent "in the mode in force, as its final hour's own record is". But the
final hour's own record is sent in the mode in force only if that hour is sealed after go-live (attack 65's case).
When the rehearsal sealed the final hour itself (the dry-run flush at 11:06 sealed 10:00 and answered its record
``dry_run``), the carry is that rehearsal hour's usage too, and the rest of the hour was never this stack's to bill.

Scenario: the rehearsal (dry-run) from 08:00; the dry-run flushes seal 08:00, 09:00 and (at 11:06) 10:00 in dry run.
The buyer uses 4,000,000,000 units at 10:10 (over one record's maximum, 2,147,483,647) and leaves (cutoff 10:30). The
11:06 dry-run flush seals 10:00: its record of 2,147,483,647 units is answered ``dry_run``, the 1,852,516,353 units
over it carried into 11:00. The final-usage step comes at 11:20 (the timer's retry after a first try that failed, in
dry run): its final hour sealed already, it places the carry in 09:00 (sealed in dry run, the mode in force), writes
the record and is killed sending it (a Lambda timeout). Go-live at 11:30. The first live flush (12:06), or the step's
live retry, finds the pending 09:00 record, matches it to the placement (``_placed_carries``) and BILLS it live. Had
the step been killed after placing but before writing the record, the live flush sealing 11:00 writes it
(``finish_placements``) and sends it live straight from the sealing, never asking either (third test).

Result: of the rehearsal hour 10:00 (sealed in dry run, its own record answered ``dry_run``: the old integration's to
bill), this stack bills 1,852,516,353 units, in an hour (09:00) also sealed in dry run. The reconciliation reports
nothing: 09:00 is reconciled for that buyer only against what Marketplace answered (billed as sealed), 10:00 passed
over (sealed in dry run, all ``dry_run``).
Invariant 1 (nothing billed by this stack of an hour sealed in dry run but what Marketplace already answered, or a
leaving buyer's placed carry *which is their final hour's usage billed live*: here the final hour was not billed live)
and 4 (a crash, then go-live, misclassifies the carry). Money: 1,852,516,353 units billed by this stack for a
rehearsal hour, silently (billed twice if the old integration billed the buyer's 10:00, as it bills the rehearsal's).

Age: the first two tests fail on 47f2052 too (every pending record of a dry-run hour was sent live), pass on cc24175
(9d55bf5 answered them dry_run) and fail again since 4e1afeb (the placed-carry exception). The third
(``finish_placements``) fails on 47f2052 and cc24175 alike: older, the same break by another path.

Fix direction: a placed carry is sent live only if its final hour (the carry's hour less one) is not sealed in dry run;
otherwise it is answered ``dry_run`` with the rest of that hour.

Fixed (``functions.flush.service.dry_run_records``): a placed carry goes as its final hour's own record does: answered
``dry_run`` where that hour was sealed in dry run, on every path (the flush's pending records, the step's retry, the
flush finishing the placement)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from functions.customers.model import Customer
from functions.flush.audit import HourReconciled
from functions.flush.customer import send_customer_usage
from functions.flush.records import MeteringRecord
from functions.flush.service import FlushDeps
from functions.usage.model import MAX_INTEGER_QUANTITY
from tests.fakes import InMemoryLedger, Killed
from tests.unit.review23_world import CARRIED, World, hour, logged_world


class DyingLedger(InMemoryLedger):
    dying = False

    def write_pending(self, records: Sequence[MeteringRecord]) -> list[MeteringRecord]:
        if self.dying:
            raise Killed
        return super().write_pending(records)


def _rehearsal_leaver_step_killed(*, before_writing: bool = False) -> tuple[World, FlushDeps, Customer]:
    world, _ = logged_world()
    ledger = DyingLedger()
    world.use_ledger(ledger)
    live, gateway, leaving = world.rehearse_a_leaver_over_the_maximum()

    world.at(hour(11, 10))  # the 11:06 dry-run flush seals 10:00 in dry run and answers its record dry_run
    assert world.ledger.sealed_in_dry_run(hour(10))
    assert [(e.status, int(e.record.quantity)) for e in world.ledger.entries_of_hour(hour(10))] == [
        ("dry_run", MAX_INTEGER_QUANTITY)
    ]

    world.clock.set(hour(11, 20))  # the final-usage step, in dry run: places the carry in 09:00, killed sending it
    gateway.dying = not before_writing
    ledger.dying = before_writing  # or killed before writing its record
    with pytest.raises(Killed):
        send_customer_usage(leaving, world.deps, out_of_time=lambda: False)
    ledger.dying = False
    assert [where for _, plan in ledger.placements_into(hour(11)) for where, _ in plan] == [hour(9)]
    stored = [(e.status, int(e.record.quantity)) for e in world.ledger.entries_of_hour(hour(9))]
    assert stored == ([] if before_writing else [("pending", CARRIED)])
    assert world.ledger.sealed_in_dry_run(hour(9))

    world.clock.set(hour(11, 30))
    world.deps = live  # go-live
    return world, live, leaving


def _reported(world: World) -> list[tuple[int, str]]:
    reported: list[HourReconciled] = []
    world.reconcile(world.clock.now(), lambda: False, reported.append)
    return [(r.hour.hour, f.kind) for r in reported for f in r.findings]


def test_the_first_live_flush_bills_a_rehearsal_hours_carry() -> None:
    world, _, _ = _rehearsal_leaver_step_killed()
    world.at(hour(14, 10))  # live flushes at 12:06, 13:06, 14:06

    findings = _reported(world)
    statuses = {h: [e.status for e in world.ledger.entries_of_hour(hour(h))] for h in (9, 10)}
    assert world.billed_hours() == {}, (
        f"{sum(world.billed_hours().values())} units of the rehearsal hour 10:00 (sealed in dry run, its own record "
        f"answered dry_run) billed live by this stack: {world.billed_hours()}, statuses {statuses}, "
        f"reconciliation findings {findings}"
    )


def test_the_steps_live_retry_bills_it_too() -> None:
    world, live, leaving = _rehearsal_leaver_step_killed()
    world.clock.set(hour(11, 35))  # the step's retry (SQS redelivery), live, before any live flush
    report = send_customer_usage(leaving, live, out_of_time=lambda: False)
    world.at(hour(14, 10))

    findings = _reported(world)
    assert world.billed_hours() == {}, (
        f"{sum(world.billed_hours().values())} units of the rehearsal hour 10:00 billed live by the step's retry: "
        f"{world.billed_hours()}, {report}, reconciliation findings {findings}"
    )


def test_the_live_flush_finishing_the_placement_bills_it_too() -> None:
    world, _, _ = _rehearsal_leaver_step_killed(before_writing=True)
    world.at(hour(14, 10))  # 12:06 seals 11:00 live: finish_placements writes 09:00's record and sends it

    findings = _reported(world)
    assert world.billed_hours() == {}, (
        f"{sum(world.billed_hours().values())} units of the rehearsal hour 10:00 billed live by the flush finishing "
        f"the placement: {world.billed_hours()}, reconciliation findings {findings}"
    )
