"""Attack 62 on 5cba041: ``live_in_hour`` narrows an hour sealed in dry run to the (customer, dimension) pairs of its
records with a Marketplace-only answer (sent, not_subscribed, duplicate). A record sent live into such an hour whose
first call Marketplace billed, its answer lost, and which live metering then parks as ``failed`` (out of the 24-hour
window: the flushes were down, simulator seed 43633's outage) has no such answer: its pair is dropped, the hour's
CloudTrail result for it is dropped, and "billed after all" (``_corrected``) never runs. The same record in an hour
sealed live is corrected. ``failed`` is the one parked status the dry run shares with live metering, so the hour's
mode cannot tell which sender parked it, but this record was never the dry run's: it was placed (a leaving buyer's
carry) into the dry-run hour and sent live after the dry run ended.

Scenario: emergency stop 08:50-10:10 (hours 08:00 and 09:00 sealed in dry run, the buyer had no usage in them); live
again; the buyer uses 4,000,000,000 calls at 10:12 (one record's maximum and a carry) and leaves (cutoff 10:59); the
final-usage step at 11:00:30 (live) sends the 10:00 record and the carry placed in 09:00 (the latest sealed hour of
theirs with no record); Marketplace bills the call, the step dies before the answer; the flushes are down until 10:06
the next day, which parks both records out of the window; the reconciliation runs that afternoon.
Invariant 1 (every hour with a record sent live is reconciled for that record's customer and dimension; a parked
record billed after all is corrected). Harm: 1,852,516,353 units billed to the buyer that the ledger, ``cli failed``
and the reports show as never billed (and an operator may redrive: a second billing); nothing is reported."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from functions.customers.model import SubscriptionState
from functions.flush.audit import HourReconciled
from functions.flush.customer import send_customer_usage
from functions.flush.records import PARKED_CARRY
from tests.fakes import Killed
from tests.unit.review23_world import hour, logged_world

DAY = timedelta(days=1)


def test_a_live_placed_carry_billed_then_parked_out_of_the_window_in_a_dry_run_hour_is_corrected() -> None:
    world, marketplace = logged_world()
    live = world.deps
    world.subscribe()
    world.at(hour(8, 50))
    world.deps = world.dry_run_deps()  # the emergency stop
    world.at(hour(10, 10))
    assert world.ledger.sealed_in_dry_run(hour(8))
    assert world.ledger.sealed_in_dry_run(hour(9))
    world.deps = live  # live again
    world.at(hour(10, 12))
    assert world.record(world.usage_event("big-1", 2_000_000_000), world.usage_event("big-2", 2_000_000_000)).accepted

    world.clock.set(hour(11, 0.5))  # the final-usage step, live: Marketplace bills its call, the step dies
    leaving = replace(world.customer(), state=SubscriptionState.ENDING, final_usage_cutoff=hour(10, 59))
    marketplace.killing = True
    with pytest.raises(Killed):
        send_customer_usage(leaving, world.deps, out_of_time=lambda: False)
    marketplace.killing = False
    # (fixed: a live final usage places a carry only in hours sealed live; 08:00 and 09:00 were the other
    # integration's to bill, and the buyer had no hour before them: the carry is parked, and shown so)
    assert set(world.billed_hours()) == {hour(10)}
    assert all(not e.record.key.endswith(PARKED_CARRY) for h in (8, 9) for e in world.ledger.entries_of_hour(hour(h)))

    world.clock.set(hour(10) + DAY)  # the flushes were down (an outage); the first to run parks what is too old
    world.at(hour(10, 7) + DAY)
    world.at(hour(15, 7) + DAY)
    reported: list[HourReconciled] = []
    world.reconcile(world.clock.now(), lambda: False, reported.append)
    assert {hour(9), hour(10)} <= {r.hour for r in reported}
    (final,) = [e for e in world.ledger.entries_of_hour(hour(10)) if not e.record.key.endswith(PARKED_CARRY)]
    assert final.status == "sent"  # the lost answer: billed after all, corrected
    parked = [
        e for h in range(8, 12) for e in world.ledger.entries_of_hour(hour(h)) if e.record.key.endswith(PARKED_CARRY)
    ]
    assert [(e.status, e.reason, int(e.record.quantity)) for e in parked] == [
        ("failed", "CarriedPastEnd", 1_852_516_353)
    ]
