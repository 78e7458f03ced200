"""Attack 60 on da4405a: ``_sealed_in_dry_run`` passes over an hour sealed in dry run unless one of its records is
``sent``; but a record sent live outside the hourly sealing (a leaving buyer's final usage, sent early into an hour
not sealed yet) may be parked by Marketplace's answer rather than ``sent``: billed by its first call, the answer lost
(the step killed), then answered CustomerNotSubscribed when the step's retry sent it again (the buyer had left
meanwhile): the very record the "billed after all" correction exists for (``_corrected``). The operator's emergency
stop comes before the hour's flush, so the hour is sealed in dry run (SEAL/DRY#10:00). When live again, the
reconciliation passes the hour over: the record stays ``not_subscribed`` ("never billed") though Marketplace billed
it, and nothing is reported. Before da4405a the hour (not all ``dry_run``) was reconciled and corrected: a
regression.

Scenario: usage at 10:10; the buyer leaves (cutoff 10:30); the final-usage step at 10:40 (live) is killed after
Marketplace billed its call; its retry at 10:52 (live) is answered CustomerNotSubscribed; 10:55 emergency stop
(dry-run); the 11:06 dry-run flush seals 10:00; live again at 14:00, the reconciliation runs.
Invariants 1 (every hour with a record sent live is reconciled; a parked record billed after all corrected) and 3
(the report of what was billed is true). Why it matters: units billed to the buyer that the ledger, the reports and
``cli failed`` show as never billed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from functions.customers.model import SubscriptionState
from functions.flush.audit import HourReconciled
from functions.flush.customer import send_customer_usage
from functions.flush.records import BatchOutcome, MeteringRecord, RecordOutcome
from tests.fakes import Killed, LoggedMarketplace
from tests.unit.review23_world import World, hour


class Marketplace(LoggedMarketplace):
    """``ended``: the buyer's subscription ended (every record answered CustomerNotSubscribed)."""

    ended = False

    def batch_meter_usage(self, records: Sequence[MeteringRecord]) -> BatchOutcome:
        if self.ended:
            return BatchOutcome(tuple(RecordOutcome(r, "CustomerNotSubscribed", None) for r in records), ())
        return super().batch_meter_usage(records)


def test_a_final_usage_record_billed_after_all_in_an_hour_sealed_in_dry_run_is_corrected() -> None:
    world = World(marketplace=lambda clock: Marketplace(clock))
    marketplace = world.marketplace
    assert isinstance(marketplace, Marketplace)
    live = world.deps
    dry = world.dry_run_deps()
    world.subscribe()
    world.at(hour(10, 10))
    assert world.record(world.usage_event("u10", 10)).accepted == ("u10",)

    world.clock.set(hour(10, 40))  # the final-usage step, live: Marketplace bills the call, the step dies
    leaving = replace(world.customer(), state=SubscriptionState.ENDING, final_usage_cutoff=hour(10, 30))
    marketplace.killing = True
    with pytest.raises(Killed):
        send_customer_usage(leaving, world.deps, out_of_time=lambda: False)
    marketplace.killing = False
    assert world.billed_hours() == {hour(10): 10}

    world.clock.set(hour(10, 52))  # its retry (the queue's visibility timeout): the buyer has left meanwhile
    marketplace.ended = True
    send_customer_usage(leaving, world.deps, out_of_time=lambda: False)
    assert [e.status for e in world.ledger.entries_of_hour(hour(10))] == ["not_subscribed"]

    world.clock.set(hour(10, 55))
    world.deps = dry  # the emergency stop
    world.at(hour(11, 7))  # the 11:06 dry-run flush seals 10:00
    assert world.ledger.sealed_in_dry_run(hour(10))

    world.deps = live  # live again at 14:00
    world.at(hour(14, 7))
    reported: list[HourReconciled] = []
    world.reconcile(hour(14, 7), lambda: False, reported.append)
    assert hour(10) in [r.hour for r in reported]

    (entry,) = world.ledger.entries_of_hour(hour(10))
    findings = [f.kind for r in reported if r.hour == hour(10) for f in r.findings]
    # Marketplace billed the 10 units: the ledger must say so (corrected to sent), or at least the hour must report it
    assert entry.status == "sent" or findings, (
        f"billed 10 units, ledger says {entry.status}, reconciliation reported {findings}"
    )
