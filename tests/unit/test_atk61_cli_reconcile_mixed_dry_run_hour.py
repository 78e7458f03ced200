"""Attack 61 on 0e3dceb: the flush's reconciliation narrows an hour sealed in dry run that holds a record Marketplace
answered (a leaving buyer's final usage, sent live into the open hour before the emergency stop) to that record's own
customer and dimension (``_sent_live_in_dry_run_hour``): the rest of the hour is the dry run's, what the old
integration billed in it "not ours to report". ``cli reconcile`` (operations/reconcile.py) does not narrow: its
``dry_run`` is ``sealed_in_dry_run(...)``, False for such an hour, so the whole hour is shown as live, and the old
integration's billing of another buyer of ours in it is "AWS billed 5 units that no record of ours accounts for".
The change's claim 5 ("cli reconcile shows hours sealed in dry run ... never a mismatch") and the flush's
reconciliation (no finding) say otherwise.

Scenario: buyer A's usage at 10:10, A leaves (cutoff 10:30), the final-usage step at 10:40 bills A's 10:00 live;
10:50 emergency stop (dry-run); the old integration bills buyer B (ours, no usage reached this stack during the stop)
5 units for 10:00; the 11:06 dry-run flush seals 10:00 in dry run; live again at 12:00; the reconciliation runs at
14:07, and the operator runs ``cli reconcile`` over 10:00.
Invariant 2 (no hour sealed in dry run reports differences beyond our live records; the operator's tool agrees with
the reconciliation). Harm: the operator is told of unexplained billing of B, another integration's, and may refund or
"correct" it."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.flush.audit import HourReconciled, TrailResult
from functions.flush.customer import send_customer_usage
from operations.queries import OperationsDeps, select
from operations.reconcile import reconcile
from tests.unit.review23_world import hour, logged_world
from tests.unit.test_review23b_redrive_parked_carry import LedgerView

B_LICENCE = "arn:aws:license-manager::294406891311:license:l-0000000000000000000000000000bbbb"


def test_cli_reconcile_agrees_with_the_reconciliation_over_a_dry_run_hour_with_a_live_record() -> None:
    world, marketplace = logged_world()
    live = world.deps
    world.subscribe()
    b = CustomerRef(world.product.code, license_arn=B_LICENCE)
    world.customers.put(Customer(b, "111122223333", SubscriptionState.ACTIVE, world.clock.now()))
    world.at(hour(10, 10))
    assert world.record(world.usage_event("u10", 10)).accepted == ("u10",)

    world.clock.set(hour(10, 40))  # A's final-usage step, live
    leaving = replace(world.customer(), state=SubscriptionState.ENDING, final_usage_cutoff=hour(10, 30))
    send_customer_usage(leaving, world.deps, out_of_time=lambda: False)
    assert world.billed_hours() == {hour(10): 10}

    world.clock.set(hour(10, 50))
    world.deps = world.dry_run_deps()  # the emergency stop
    marketplace.logged.append(  # the old integration bills B's 10:00
        TrailResult(B_LICENCE, None, "calls", hour(10), Decimal(5), "Success", "old-b-10", hour(11, 2))
    )
    world.at(hour(11, 7))
    assert world.ledger.sealed_in_dry_run(hour(10))
    world.deps = live
    world.at(hour(14, 7))

    reported: list[HourReconciled] = []
    world.reconcile(hour(14, 7), lambda: False, reported.append)
    findings = [(f.customer, f.kind) for r in reported if r.hour == hour(10) for f in r.findings]
    assert hour(10) in [r.hour for r in reported]
    assert findings == []  # the reconciliation: nothing to report

    operations = OperationsDeps(world.settings, world.customers, world.usage, LedgerView(world), world.clock)
    found = reconcile(operations, lambda sink: marketplace, select(operations, since=hour(10), until=hour(10)))
    mismatches = [(r.customer[-4:], r.mismatch) for r in found.mismatches]
    assert mismatches == [], f"cli reconcile over a dry-run hour, the reconciliation found none: {mismatches}"
