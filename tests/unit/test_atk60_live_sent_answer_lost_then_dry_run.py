"""Attack 60 on da4405a: an hour sealed LIVE (no SEAL/DRY#<hour>) whose records the live flush sent, Marketplace billing
the call but its answer lost (the flush killed, or its retries used up: the records stay pending), is passed over by
the reconciliation once the operator's emergency stop follows: the next flush, in dry run, sends the pending records
to the dry-run gateway, which answers ``DryRun``; every entry of the hour is then ``dry_run`` and
``_sealed_in_dry_run`` takes it as sealed in dry run by its statuses alone, though the ledger now records the hour as
sealed live. Marketplace billed 9 units the ledger calls "stored, never billed", and no difference is ever reported.
(Even reconciled, ``sealed_mismatch`` says nothing of a ``dry_run`` entry CloudTrail shows billed.)

Scenario: usage at 09:10; the 10:06 live flush seals 09:00, Marketplace bills its call, the flush dies before reading
the answer; 10:20 emergency stop (dry-run: the stop an operator makes when Marketplace calls misbehave); the 11:06
dry-run flush answers the pending 09:00 record DryRun; live again at 14:00, the reconciliation runs.
Invariants 1 (an hour with a record sent live is reconciled), 3 (the report of what was billed is true), 4 (a mode
switch after a crash leaves no hour misclassified). Why it matters: billed units the ledger denies, silently."""

from __future__ import annotations

from dataclasses import replace

import pytest

from functions.flush.audit import AuditDeps, HourReconciled, reconcile_due
from functions.flush.dry_run import DryRunMeteringGateway
from tests.fakes import Killed, LoggedMarketplace
from tests.unit.review23_world import World, hour


def test_a_live_sealed_hour_billed_then_answered_by_the_dry_run_is_reconciled() -> None:
    world = World(marketplace=lambda clock: LoggedMarketplace(clock))
    marketplace = world.marketplace
    assert isinstance(marketplace, LoggedMarketplace)
    live = world.deps
    dry = replace(
        world.deps,
        settings=replace(world.settings, metering_mode="dry-run"),
        gateway=DryRunMeteringGateway(world.clock),
    )
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
    world.deps = dry  # the emergency stop
    world.at(hour(11, 7))  # the 11:06 dry-run flush sent the pending 09:00 record to the dry-run gateway
    # (fixed: a record of an hour sealed live is held through the dry run, sent live when it ends)
    assert [e.status for e in world.ledger.entries_of_hour(hour(9))] == ["pending"]

    world.deps = live  # live again at 14:00
    world.at(hour(14, 7))
    reported: list[HourReconciled] = []
    audit = AuditDeps(world.ledger.entries_of_hour, marketplace, mark=world.ledger)
    reconcile_due(audit, hour(14, 7), lambda: False, reported.append)
    assert hour(9) in [r.hour for r in reported]

    (entry,) = world.ledger.entries_of_hour(hour(9))
    findings = [f.kind for r in reported if r.hour == hour(9) for f in r.findings]
    assert entry.status == "sent" or findings, (
        f"Marketplace billed 9 units of an hour sealed live; ledger says {entry.status}, reported {findings}"
    )
