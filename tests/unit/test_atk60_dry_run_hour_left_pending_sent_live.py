"""Attack 60 on da4405a: a dry-run flush that dies between sealing an hour (SEAL/DRY#<hour> written with the cursor's
move) and answering its records leaves them pending; the first flush after go-live (or after the emergency stop
ends) queues every pending record of a sealed hour (``queue(list(deps.ledger.pending(mark)))``) and sends them LIVE,
never asking how the hour was sealed. An hour sealed in dry run, "nothing of it ours to bill", is billed by this
stack: Marketplace answers the integration that billed it meanwhile's MeteringRecordId (same units) and the ledger
holds it ``sent`` by this stack, the hour then reconciled as live; or, had that integration not billed it yet, this
stack bills usage it handed to the other integration.

Scenario: the emergency stop at 10:30 (dry-run); usage at 10:40; the 11:06 dry-run flush seals 10:00 and dies before
its dry-run answers are written (timeout); the old integration bills the buyer's 10:00 (10 units, "old-10"); live
again at 11:30: the 12:06 live flush sends the pending 10:00 record to Marketplace.
Invariants 2 (an hour sealed only in dry run has no records rewritten), 3 (the report of what was billed is true), 4
(a crash between the seal and the send, then a mode switch, leaves no hour misclassified). Why it matters: a dry-run
hour silently becomes a live one, its billing attributed to this stack."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

import pytest

from functions.flush.dry_run import DryRunMeteringGateway
from functions.flush.records import BatchOutcome, MeteringRecord
from tests.fakes import Killed, LoggedMarketplace
from tests.unit.review23_world import World, hour


class DyingDryRun(DryRunMeteringGateway):
    dying = True

    def batch_meter_usage(self, records: Sequence[MeteringRecord]) -> BatchOutcome:
        if self.dying:
            raise Killed
        return super().batch_meter_usage(records)


def test_a_dry_run_hours_records_left_pending_are_not_billed_live() -> None:
    world = World(marketplace=lambda clock: LoggedMarketplace(clock))
    marketplace = world.marketplace
    assert isinstance(marketplace, LoggedMarketplace)
    live = world.deps
    gateway = DyingDryRun(world.clock)
    dry = replace(world.deps, settings=replace(world.settings, metering_mode="dry-run"), gateway=gateway)
    world.subscribe()
    world.at(hour(10, 30))
    world.deps = dry  # the emergency stop
    world.clock.set(hour(10, 40))
    assert world.record(world.usage_event("u10", 10)).accepted == ("u10",)
    with pytest.raises(Killed):
        world.at(hour(11, 7))  # the 11:06 dry-run flush seals 10:00, dies before answering its records
    assert world.ledger.sealed_in_dry_run(hour(10))
    assert [e.status for e in world.ledger.entries_of_hour(hour(10))] == ["pending"]
    # the old integration bills the buyer's 10:00 hour
    marketplace.billed[(world.ref.license_arn or "", "calls", hour(10))] = (
        world.ledger.entries_of_hour(hour(10))[0].record,
        "old-10",
    )
    assert Decimal(10) == world.ledger.entries_of_hour(hour(10))[0].record.quantity

    world.clock.set(hour(11, 30))
    world.deps = live  # live again
    world.at(hour(12, 7))
    sent_by_us = [r.hour for call in marketplace.calls for r in call]
    (entry,) = world.ledger.entries_of_hour(hour(10))
    assert hour(10) not in sent_by_us, f"an hour sealed in dry run sent live: calls for {sent_by_us}"
    assert entry.status != "sent", f"ledger {entry.status} ({entry.metering_record_id})"
