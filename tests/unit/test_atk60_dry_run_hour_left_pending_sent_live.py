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
hour silently becomes a live one, its billing attributed to this stack.

Fixed (``functions.flush.service.park_dry_run_hours``): live, the flush and a leaving buyer's final-usage step answer a
record of an hour sealed in dry run ``dry_run``, as the dead run would have, and never send it."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from functions.flush.customer import send_customer_usage
from functions.flush.records import RecordResult
from functions.flush.service import FlushDeps, flush
from operations.queries import OperationsDeps, select
from operations.redrive import redrive
from tests.fakes import Killed, LoggedMarketplace
from tests.unit.review23_world import DyingDryRun, World, hour
from tests.unit.test_review23b_redrive_parked_carry import LedgerView


def _dry_run_hour_left_pending() -> tuple[World, LoggedMarketplace, FlushDeps]:
    """The emergency stop at 10:30, 10 units used at 10:40, the 11:06 dry-run flush sealing 10:00 and dying before it
    answers its record; the live dependencies returned, for the stack live again."""
    world = World(marketplace=lambda clock: LoggedMarketplace(clock))
    marketplace = world.marketplace
    assert isinstance(marketplace, LoggedMarketplace)
    live = world.deps
    gateway = DyingDryRun(world.clock)
    gateway.dying = True
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
    return world, marketplace, live


def test_a_dry_run_hours_records_left_pending_are_not_billed_live() -> None:
    world, marketplace, live = _dry_run_hour_left_pending()
    # the old integration bills the buyer's 10:00 hour
    marketplace.billed[(world.ref.license_arn or "", "calls", hour(10))] = (
        world.ledger.entries_of_hour(hour(10))[0].record,
        "old-10",
    )
    assert Decimal(10) == world.ledger.entries_of_hour(hour(10))[0].record.quantity

    world.clock.set(hour(11, 30))
    world.deps = live  # live again
    world.clock.set(hour(12, 6))
    report = flush(world.deps, remaining_ms=lambda: 900_000)
    sent_by_us = [r.hour for call in marketplace.calls for r in call]
    (entry,) = world.ledger.entries_of_hour(hour(10))
    assert hour(10) not in sent_by_us, f"an hour sealed in dry run sent live: calls for {sent_by_us}"
    # answered as the dry run would have: stored, never billed, counted so
    assert (entry.status, entry.record.quantity, report.dry_run, report.succeeded) == ("dry_run", Decimal(10), 1, 0)


def test_a_leaving_buyers_final_usage_after_go_live_leaves_a_dry_run_hours_record_unbilled() -> None:
    """The same record found by a leaving buyer's final-usage step once live again, before any live flush: the step
    sends their pending records of sealed hours with their open hours' usage, and only the open hour is billed."""
    world, _, live = _dry_run_hour_left_pending()
    world.clock.set(hour(11, 30))
    world.deps = live  # live again
    assert world.units_taken("u11", 4) == 4
    world.send("ended_proposer.json")  # they leave at 11:30
    world.send("license_deprovisioned.json")
    world.clock.set(hour(11, 45))  # the step, before the 12:06 flush
    report = send_customer_usage(world.customer(), live, out_of_time=lambda: False)
    (entry,) = world.ledger.entries_of_hour(hour(10))
    assert (entry.status, entry.record.quantity) == ("dry_run", Decimal(10))
    assert world.billed_hours() == {hour(11): 4}, f"billed {world.billed_hours()}: only 11:00's 4 units were live"
    assert (report.records, report.sent, report.dry_run, report.failed) == (2, 1, 1, 0)


def test_the_operator_cannot_requeue_a_parked_record_of_a_dry_run_hour_and_is_told_why() -> None:
    """``cli redrive`` (attack 65): a record the dry run parked in an hour it sealed would be answered ``dry_run`` by
    the next live flush, never sent; the operator is told so, and how to bill it, rather than "requeued"."""
    world, _, live = _dry_run_hour_left_pending()
    world.deps = live
    (entry,) = world.ledger.entries_of_hour(hour(10))
    world.ledger.write_results([RecordResult(entry.record, "failed", None, "InvalidCustomerIdentifier")])
    world.clock.set(hour(11, 30))
    operations = OperationsDeps(world.settings, world.customers, world.usage, LedgerView(world), world.clock)
    (outcome,) = redrive(operations, select(operations, since=hour(10), until=hour(10)))
    assert (outcome.outcome, outcome.entry.record.quantity) == ("refused", Decimal(10))
    assert "sealed in dry run" in outcome.why
    assert [e.status for e in world.ledger.entries_of_hour(hour(10))] == ["failed"]
