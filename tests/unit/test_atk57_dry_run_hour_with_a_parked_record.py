"""Attack 57 on 578d1a6: the pass-over of "an hour whose records were all sealed in dry run" tells a dry-run hour by
its entries' status (``all(e.status == "dry_run")``), but a dry-run flush parks records too: one out of Marketplace's
24-hour window (TimestampOutOfBoundsException), a leaving buyer's carry with no hour left (CarriedPastEnd), a
quantity Marketplace would refuse, each ``failed``, never ``dry_run``. An hour sealed in dry run holding one is
reconciled as a live one when live metering resumes (or begins: within the 24 hours ``begin_reconciliation`` reaches
back at go-live):

- its parked record is reported ``failed`` ("never billed"), though nothing of the hour was ours to bill;
- where the integration billing meanwhile (the emergency stop's, attack 56) billed our buyer the same units, the
  dry-run record is "billed after all": the ledger rewrites it as ``sent`` by this stack, with the other
  integration's MeteringRecordId: the ledger holds as billed by this stack a record it never sent.

Scenario: live until 10:30, then an emergency stop (metering_mode dry-run, the old integration billing again); the
dry-run flush is down (the reason for the stop, say) until 11:06 the next day, so it parks the 10:00 and 11:00 records
as out of the window and stores the later hours' as dry_run; live again at 12:00 the next day.
Invariant 2: no hour whose records were all sealed in dry run reports differences (or has its records rewritten)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from functions.flush.audit import HourReconciled, TrailResult
from tests.unit.review23_world import LICENCE_ARN, hour, logged_world


def at(h: int, minutes: float = 0) -> datetime:
    """``h`` hours after midnight on the first day (the next day's 11:06 is at(35, 6))."""
    return hour(0) + timedelta(hours=h, minutes=minutes)


def test_an_hour_sealed_in_dry_run_with_a_parked_record_is_not_reconciled_as_live() -> None:
    world, marketplace = logged_world()
    live, dry = world.deps, world.dry_run_deps()
    world.subscribe()
    reported: list[HourReconciled] = []

    for h in (8, 9):  # live: usage at 08:10 and 09:10, each hour sealed and sent by the next :06 flush
        world.at(at(h, 10))
        assert world.record(world.usage_event(f"u{h}", h)).accepted == (f"u{h}",)
    world.at(at(10, 7))
    world.reconcile(at(10, 7), lambda: False, reported.append)  # run.py: after the live flush

    world.deps = dry  # 10:30: the emergency stop; the old integration bills again, and the flush is down
    for h in (10, 11):
        world.clock.set(at(h, 40))
        assert world.record(world.usage_event(f"u{h}", h)).accepted == (f"u{h}",)
    # the old integration billed our buyer's 10:00 hour the same usage (the producer writes to both during the stop)
    marketplace.logged.append(TrailResult(LICENCE_ARN, None, "calls", at(10), Decimal(10), "Success", "old-10", at(11)))
    world.clock.set(at(35, 0))
    world.at(at(35, 7))  # the next day's 11:06 dry-run flush: the backlog sealed, 10:00 and 11:00 out of the window
    assert {e.status for e in world.ledger.entries_of_hour(at(10))} == {"failed"}
    assert {e.status for e in world.ledger.entries_of_hour(at(11))} == {"failed"}

    world.deps = live  # 12:00 the next day: live again
    world.at(at(36, 7))
    world.reconcile(at(36, 7), lambda: False, reported.append)

    reconciled = [r.hour for r in reported]
    assert {at(8), at(9)} <= set(reconciled)  # the live hours, reconciled
    assert world.billed_hours() == {at(8): 8, at(9): 9}  # nothing billed by this stack in dry run
    findings = [(f.hour.hour, f.kind) for r in reported for f in r.findings if r.hour in (at(10), at(11))]
    (entry,) = world.ledger.entries_of_hour(at(10))
    # hours 10:00 and 11:00 were sealed in dry run: nothing of them was ours to bill, nothing of them is reported, and
    # their parked records stay as the dry run left them (found: 11:00 reported "failed", never billed; 10:00's record
    # silently rewritten as billed by this stack, under the old integration's MeteringRecordId)
    assert (findings, entry.status, entry.metering_record_id) == ([], "failed", None)
