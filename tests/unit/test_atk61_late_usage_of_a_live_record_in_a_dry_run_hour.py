"""Attack 61 on 0e3dceb: ``_sent_live_in_dry_run_hour`` reconciles only the records Marketplace answered in an hour
sealed in dry run, against CloudTrail, and no longer checks ``unsealed`` (usage accepted for the hour that its sealed
totals do not hold). For a leaving buyer whose final usage was sent live into the open hour, a usage write in flight
that landed after the step sent (later than the in-flight margin) is never billed (the hour keeps the first record
written) and is no longer reported: in the same hour sealed live, the reconciliation reports it
(ACCEPTED_NOT_SEALED). Only the mode the hour was sealed in, later than the live send, decides.

Scenario: buyer's usage 10 units at 10:10; the final-usage step at 10:40 (cutoff 10:30) bills 10 live; a usage write
of theirs stamped 10:20 (5 units) lands at 10:45; emergency stop (dry-run) at 10:50; the 11:06 dry-run flush seals
10:00 in dry run; live again at 12:00; the reconciliation at 14:10, with the accepted usage to compare.
Invariant 1 (nothing answered 200 is lost unbilled without being reported), 2 (every hour with a record sent live is
reconciled: all of that record, its totals included). Harm: 5 accepted units of a live-billed buyer dropped silently."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from itertools import chain

from functions.customers.model import SubscriptionState
from functions.flush.aggregate import aggregate
from functions.flush.audit import ACCEPTED_NOT_SEALED, AuditDeps, HourReconciled, reconcile_due
from functions.flush.customer import send_customer_usage
from functions.flush.records import MeteringRecord
from tests.unit.review23_world import hour, logged_world


def test_late_usage_of_a_buyer_billed_live_in_an_hour_sealed_in_dry_run_is_reported() -> None:
    world, marketplace = logged_world()
    live = world.deps
    world.subscribe()
    world.at(hour(10, 10))
    assert world.record(world.usage_event("u10", 10)).accepted == ("u10",)
    world.clock.set(hour(10, 40))  # the final-usage step, live
    leaving = replace(world.customer(), state=SubscriptionState.ENDING, final_usage_cutoff=hour(10, 30))
    send_customer_usage(leaving, world.deps, out_of_time=lambda: False)
    assert world.billed_hours() == {hour(10): 10}
    world.clock.set(hour(10, 45))  # a write in flight, stamped 10:20, lands late
    assert world.record(world.usage_event("late", 5, stamp=hour(10, 20))).accepted == ("late",)

    world.clock.set(hour(10, 50))
    world.deps = world.dry_run_deps()  # the emergency stop
    world.at(hour(11, 7))
    assert world.ledger.sealed_in_dry_run(hour(10))
    world.deps = live
    world.at(hour(14, 10))

    def accepted(h: datetime) -> list[MeteringRecord]:
        usage = chain(world.usage.events_of_hour(h), world.usage.late_events_billed_in(h))
        return aggregate(h, usage, world.settings.products)

    reported: list[HourReconciled] = []
    audit = AuditDeps(world.ledger.entries_of_hour, marketplace, mark=world.ledger, accepted=accepted)
    reconcile_due(audit, world.clock.now(), lambda: False, reported.append)
    assert hour(10) in [r.hour for r in reported]
    findings = [f.kind for r in reported if r.hour == hour(10) for f in r.findings]
    assert world.billed_hours() == {hour(10): 10}
    assert ACCEPTED_NOT_SEALED in findings, f"5 accepted units never billed, reported: {findings}"
