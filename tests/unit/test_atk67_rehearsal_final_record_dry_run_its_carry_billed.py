"""Attack 67 on c97ead9 (``dry_run_records``: a placed carry in an hour sealed in dry run "goes as its final hour's own
record does", which it reads as: sent unless that final hour is SEALED in dry run). The final hour's own record may
have gone already, answered ``dry_run``, in the open hour: a leaving buyer's final-usage step in the rehearsal sends
their final hour before it is sealed (docs/metering.md: "A buyer who left during the rehearsal has their final usage
stored dry_run in the open hour, which go-live then seals live: not sent by this stack (the old integration billed the
rehearsal's leavers)"). The rule asks only how the hour will be sealed (live: go-live comes before the flush seals it),
not how its own record went; so when the step dies between writing its answers, the carry it placed is billed live
while the final hour's own record, answered in the same call, is not.

Scenario: the rehearsal (dry-run) from 08:00; the dry-run flushes seal 08:00 and 09:00 in dry run. The buyer uses
4,000,000,000 units at 10:10 (over one record's maximum, 2,147,483,647) and leaves (cutoff 10:30). The final-usage step
at 10:40, in dry run: 10:00 is open, so it aggregates 10:00's record (2,147,483,647), places the 1,852,516,353 units it
carries on in 09:00 (sealed in dry run, the mode in force), writes both pending and sends them in one call, which the
dry-run gateway answers ``dry_run`` for both. Its outcomes are written one item at a time (the DynamoDB ledger's
``write_results``: an ``update_item`` per hour's item, in the call's order): 10:00's is written, then the step is killed
(a Lambda timeout) before 09:00's. Go-live at 10:50. The 11:06 live flush finds the pending 09:00 record, matches it to
the placement, sees its final hour 10:00 unsealed ("counts as live") and BILLS it; then seals 10:00 live, its record
stored ``dry_run`` (reported ``answered in dry run, its hour sealed live``: never billed by this stack). The second
test: the step's live retry (SQS redelivery at 10:52) does the same before any flush. The third needs no crash: a
product metered on 25 dimensions puts the final hour's 25 records in the dry-run step's first call and the carry in a
second; the step's time runs out between them (the carry left pending, CustomerUsageIncomplete, the message retried
after go-live), and its live retry bills the carry.

Result: of the rehearsal leaver's final hour, whose own record this stack answered ``dry_run`` (the old integration's to
bill), this stack bills the 1,852,516,353 units carried on, unreported (09:00 is reconciled for that buyer only against
what Marketplace answered: billed as sealed). Had the step not died between its two writes, the carry would be stored
``dry_run`` with its final hour's record and never billed: a crash changes the money.
Invariants 3 (the step's own answer, written for the final hour, and the flush's for its carry disagree: the carry
does not go "as its final hour's own record does") and 4 (a crash between two writes of one call, then go-live, changes
the money: 0 units billed without it, 1,852,516,353 with it); and 1 as the docs mean it (a rehearsal leaver's final
usage is the old integration's, never this stack's: 10:00 is sealed live, so the letter of "a live final hour's placed
carry" lets it through). Money: 1,852,516,353 units billed by this stack, unreported, billed twice where the old
integration billed the rehearsal's leaver as the docs say it does.

Age: fails on 47f2052 too (every pending record of a dry-run hour was sent live: older), passes on cc24175 (9d55bf5
answered it ``dry_run``), fails again since 4e1afeb (the placed-carry exception), c97ead9 included.

Fix direction: a placed carry goes as its final hour's own record WENT where that record has an outcome already
(``dry_run`` -> ``dry_run``), and as that hour is sealed only where it is still pending.

Fixed (``functions.flush.service.dry_run_records``): a placed carry takes its final hour's own record's answer
where that record has one (``dry_run`` here); only while it has none does that hour's seal decide."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from functions.customers.model import Customer, SubscriptionState
from functions.flush.audit import HourReconciled
from functions.flush.customer import CustomerUsageIncomplete, send_customer_usage
from functions.flush.dry_run import DryRunMeteringGateway
from functions.flush.records import BatchOutcome, MeteringRecord
from functions.settings import Dimension
from functions.usage.model import MAX_INTEGER_QUANTITY
from tests.fakes import Killed, LoggedMarketplace
from tests.unit.review23_world import CARRIED, PRODUCT, AnswersKilledLedger, World, hour, logged_world


def _rehearsal_leaver_step_killed_between_its_answers() -> tuple[World, Customer]:
    world, _ = logged_world()
    ledger = AnswersKilledLedger()
    world.use_ledger(ledger)
    live = world.deps
    world.deps = world.dry_run_deps()  # the rehearsal
    world.subscribe()  # 08:00
    world.at(hour(10, 10))  # 08:00 and 09:00 sealed in dry run
    assert ledger.sealed_in_dry_run(hour(9))
    assert world.record(world.usage_event("big-1", 2_000_000_000), world.usage_event("big-2", 2_000_000_000)).accepted

    world.clock.set(hour(10, 40))  # the final-usage step, in dry run, 10:00 still open
    leaving = replace(world.customer(), state=SubscriptionState.ENDING, final_usage_cutoff=hour(10, 30))
    ledger.dying = True
    with pytest.raises(Killed):
        send_customer_usage(leaving, world.deps, out_of_time=lambda: False)
    ledger.dying = False
    assert [where for _, plan in ledger.placements_into(hour(11)) for where, _ in plan] == [hour(9)]
    # the final hour's own record answered dry_run (the rehearsal's); its carry's answer never written
    assert [(e.status, int(e.record.quantity)) for e in ledger.entries_of_hour(hour(10))] == [
        ("dry_run", MAX_INTEGER_QUANTITY)
    ]
    assert [(e.status, int(e.record.quantity)) for e in ledger.entries_of_hour(hour(9))] == [("pending", CARRIED)]

    world.clock.set(hour(10, 50))
    world.deps = live  # go-live
    return world, leaving


def _shown(world: World) -> tuple[dict[int, list[str]], list[tuple[int, str]]]:
    reported: list[HourReconciled] = []
    world.reconcile(world.clock.now(), lambda: False, reported.append)
    statuses = {h: [e.status for e in world.ledger.entries_of_hour(hour(h))] for h in (9, 10, 11)}
    return statuses, [(r.hour.hour, f.kind) for r in reported for f in r.findings]


def test_the_first_live_flush_bills_the_carry_of_a_final_hour_answered_dry_run() -> None:
    world, _ = _rehearsal_leaver_step_killed_between_its_answers()
    world.at(hour(14, 10))  # live flushes at 11:06 (seals 10:00 live), 12:06, 13:06, 14:06

    statuses, findings = _shown(world)
    assert world.billed_hours() == {}, (
        f"{sum(world.billed_hours().values())} units of a rehearsal leaver's final hour (its own record answered "
        f"dry_run) billed live by this stack: {world.billed_hours()}, statuses {statuses}, findings {findings}"
    )


def test_the_steps_live_retry_bills_it_too() -> None:
    world, leaving = _rehearsal_leaver_step_killed_between_its_answers()
    world.clock.set(hour(10, 52))  # the step's retry (SQS redelivery), live, before any live flush
    report = send_customer_usage(leaving, world.deps, out_of_time=lambda: False)
    world.at(hour(14, 10))

    statuses, findings = _shown(world)
    assert world.billed_hours() == {}, (
        f"{sum(world.billed_hours().values())} units of a rehearsal leaver's final hour (its own record answered "
        f"dry_run) billed live by the step's retry: {world.billed_hours()}, {report}, statuses {statuses}, "
        f"findings {findings}"
    )


# No crash at all: a buyer of a product metered on 25 dimensions has 25 records in their final hour, so the step's
# dry-run calls are two (BatchMeterUsage takes 25 records a call): the first, the final hour's 25 records, answered
# dry_run; the step's time runs out before the second (its carry), left pending (CustomerUsageIncomplete: the message
# is retried after the queue's visibility timeout), and go-live comes before the retry.
WIDE = replace(PRODUCT, dimensions=(Dimension("calls"), *(Dimension(f"extra-{n:02}") for n in range(24))))


class CountingDryRun(DryRunMeteringGateway):
    calls = 0

    def batch_meter_usage(self, records: Sequence[MeteringRecord]) -> BatchOutcome:
        self.calls += 1
        return super().batch_meter_usage(records)


def test_a_dry_run_step_out_of_time_after_its_final_hours_call_has_its_carry_billed_by_its_live_retry() -> None:
    world = World(product=WIDE, marketplace=lambda clock: LoggedMarketplace(clock))
    live = world.deps
    gateway = CountingDryRun(world.clock)
    world.deps = replace(world.dry_run_deps(), gateway=gateway)  # the rehearsal
    world.subscribe()  # 08:00
    world.at(hour(10, 10))  # 08:00 and 09:00 sealed in dry run
    extra = [world.usage_event(f"x-{n}", 1, dimension=f"extra-{n:02}") for n in range(24)]
    assert world.record(world.usage_event("big-1", 2_000_000_000), world.usage_event("big-2", 2_000_000_000), *extra)

    world.clock.set(hour(10, 40))  # the dry-run step: its time runs out after its first call
    leaving = replace(world.customer(), state=SubscriptionState.ENDING, final_usage_cutoff=hour(10, 30))
    with pytest.raises(CustomerUsageIncomplete):
        send_customer_usage(leaving, world.deps, out_of_time=lambda: gateway.calls >= 1)
    assert {e.status for e in world.ledger.entries_of_hour(hour(10))} == {"dry_run"}  # 25 records answered
    assert [(e.status, int(e.record.quantity)) for e in world.ledger.entries_of_hour(hour(9))] == [("pending", CARRIED)]

    world.clock.set(hour(10, 50))
    world.deps = live  # go-live
    world.clock.set(hour(10, 52))  # the step's retry, live
    report = send_customer_usage(leaving, live, out_of_time=lambda: False)
    world.at(hour(14, 10))

    _, findings = _shown(world)
    assert world.billed_hours() == {}, (
        f"{sum(world.billed_hours().values())} units of a rehearsal leaver's final hour (its 25 records answered "
        f"dry_run) billed live by the step's retry: {world.billed_hours()}, {report}, findings {findings}"
    )
