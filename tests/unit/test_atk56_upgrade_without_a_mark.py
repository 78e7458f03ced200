"""Attack 56 on 5a043fc: an upgrade from a version that kept no reconciliation mark (any version before b7bb626, or
one whose reconciliation never got to write it). ``RECONCILE_FIRST`` says a reconciliation that live metering never
started ("a stack whose live flush ran before it did") starts 24 hours back, every hour Marketplace may still have
billed. It never does: the upgraded stack's first live flush runs before its first reconciliation, finds no mark and
begins it at the hour it seals next (``begin_reconciliation``), so the fallback in ``reconcile_due`` is dead code and
the hours the old version sent in the day before the upgrade are never reconciled. A record of them billed, its answer
lost, then answered CustomerNotSubscribed when sent again (the buyer left) stays ``not_subscribed`` for ever: billed
units the ledger reports as never billed (the "billed after all" correction never runs)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import pytest

from functions.flush.audit import HourReconciled
from functions.flush.records import BatchOutcome, MeteringRecord, RecordOutcome
from tests.fakes import Killed, LoggedMarketplace
from tests.unit.review23_world import World, hour


class Marketplace(LoggedMarketplace):
    """Marketplace, CloudTrail logging each billed result when its call came; ``killing``: the flush dies before it
    reads the answer; ``ended``: the buyer's subscription ended (every record answered CustomerNotSubscribed)."""

    ended = False

    def batch_meter_usage(self, records: Sequence[MeteringRecord]) -> BatchOutcome:
        if self.ended:
            return BatchOutcome(tuple(RecordOutcome(r, "CustomerNotSubscribed", None) for r in records), ())
        return super().batch_meter_usage(records)


def test_an_upgraded_stacks_first_reconciliation_reaches_the_day_the_old_version_billed() -> None:
    world = World(marketplace=lambda clock: Marketplace(clock))
    marketplace = world.marketplace
    assert isinstance(marketplace, Marketplace)

    def old_version_flush(moment: datetime) -> None:
        world.at(moment)
        world.ledger.reconciled, world.ledger.reconciled_version = None, 0  # the old version writes no mark

    world.subscribe()
    world.at(hour(8, 10))
    assert world.record(world.usage_event("u1", 40)).accepted == ("u1",)
    marketplace.killing = True
    with pytest.raises(Killed):
        old_version_flush(hour(9, 7))  # the 09:06 flush sends hour 08:00, billed, and dies
    world.ledger.reconciled, world.ledger.reconciled_version = None, 0
    marketplace.killing = False
    marketplace.ended = True  # 09:30: the buyer's subscription ends
    old_version_flush(hour(10, 7))  # the 10:06 flush sends hour 08:00 again: CustomerNotSubscribed
    (entry,) = world.ledger.entries_of_hour(hour(8))
    assert entry.status == "not_subscribed"
    assert world.billed_hours() == {hour(8): 40}
    assert world.ledger.reconciled is None

    # 10:30: the upgrade. Its flushes begin the reconciliation; run.py reconciles after each live flush
    reported: list[HourReconciled] = []
    for h in range(11, 17):
        world.at(hour(h, 7))
        world.reconcile(hour(h, 7), lambda: False, reported.append)

    reconciled = [r.hour for r in reported]
    # a start 24 hours before the first reconciliation (11:07): hour 08:00, the old version's, is among them
    assert hour(8) in reconciled, f"the upgraded stack's reconciliation started at {reconciled[0].isoformat()}"
    (entry,) = world.ledger.entries_of_hour(hour(8))
    assert (entry.status, entry.record.quantity) == ("sent", Decimal(40)), "billed, reported never billed"
