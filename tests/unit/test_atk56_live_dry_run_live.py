"""Attack 56 on 5a043fc: live -> dry-run -> live (an operator's emergency stop: billing handed back to the old
integration for a few hours, then live again). ``begin_reconciliation`` keeps dry-run hours out only of a mark never
written; once live metering began it, a dry-run spell leaves the mark where the last live reconciliation stopped (a
dry-run flush reconciles nothing: ``run.py``), and the first live run after it reconciles every hour sealed in dry run
as if billed by this stack. What the old integration billed in those hours for our buyer reads as "in CloudTrail but
not in our ledger" (ReconciliationMismatches): the very difference the design keeps a rehearsal's hours out for.
Invariant: no hour sealed only in dry run is reconciled; no live hour is skipped."""

from __future__ import annotations

from decimal import Decimal

from functions.flush.audit import HourReconciled, TrailResult
from tests.unit.review23_world import LICENCE_ARN, hour, logged_world


def test_hours_sealed_in_an_emergency_dry_run_are_not_reconciled_when_live_again() -> None:
    world, marketplace = logged_world()
    live, dry = world.deps, world.dry_run_deps()
    world.subscribe()
    reported: list[HourReconciled] = []
    mode = {}
    for h in range(8, 23):
        if h == 11:
            world.deps = dry  # 11:00: the operator stops billing (deploys metering_mode dry-run)
        if h == 15:
            world.deps = live  # 15:00: live again
        mode[h] = world.deps.settings.metering_mode
        world.at(hour(h, 7))  # the hour's flush (:06) seals the hour before
        if h == 13:
            # the old integration, billing our buyer's 13:00 hour while this stack is in dry run
            marketplace.logged.append(
                TrailResult(LICENCE_ARN, None, "calls", hour(13), Decimal(5), "Success", "old-1", hour(13, 20))
            )
        if world.deps.settings.metering_mode == "live":  # run.py reconciles after a live flush only
            world.reconcile(hour(h, 7), lambda: False, reported.append)
        world.clock.set(hour(h, 10))
        if h == 13:
            continue  # its producer pointed at the old integration meanwhile: no usage of 13:00 reaches this stack
        assert world.record(world.usage_event(f"u{h}", h)).accepted == (f"u{h}",)

    sealed_in = {h: mode[h + 1] for h in range(8, 22)}  # hour h is sealed by the flush at h+1:06
    assert [h for h, m in sealed_in.items() if m == "dry-run"] == [10, 11, 12, 13]
    statuses = {h: {e.status for e in world.ledger.entries_of_hour(hour(h))} for h in range(8, 19)}
    assert statuses[11] == statuses[12] == {"dry_run"}
    assert statuses[9] == statuses[15] == {"sent"}
    reconciled = [r.hour.hour for r in reported if r.hour >= hour(8)]  # (begun 24 hours back: the day before's empty)
    # every live hour settled by 22:07 (up to 19:00) reconciled once
    assert sorted(h for h in reconciled if sealed_in[h] == "live") == [8, 9, 14, 15, 16, 17, 18, 19]
    findings = [(f.hour.hour, f.kind) for r in reported for f in r.findings]
    # every hour sealed in dry run is passed over, its differences unreported: 10-12 with their dry-run records, and
    # 13:00 with none, where the old integration's billing of our buyer would read as not in our ledger (left by the
    # first fix; the ledger now keeps the mode each hour was sealed in: attack 57)
    assert findings == []
