"""Attack 60 on da4405a: the reconciliation classifies a whole hour by one bit: sealed in dry run and no record
``sent`` -> passed over; otherwise reconciled as live, every record of it. An hour sealed in dry run that holds one
record sent live (a leaving buyer's final usage, sent early before the emergency stop) is reconciled as live, and so
are the records the dry run handled in it: a record the dry run parked (out of Marketplace's window: the dry-run
flush was down) is "billed after all" when the integration billing during the stop billed that buyer the same
units, and the ledger rewrites it as ``sent`` by this stack under the other integration's MeteringRecordId: attack
57's harm, back in any dry-run hour one leaving buyer touched live.

Scenario: buyers A and B use the product at 10:10; A leaves (cutoff 10:30), their final-usage step sends A's 10:00
record live at 10:40; 10:50 emergency stop (dry-run), the old integration bills B's 10:00 (7 units, "old-10"); the
dry-run flush is down until 11:06 the next day, then seals 10:00 with B's record parked out of the window; live
again at 12:00 the next day.
Invariants 2/3: a record the dry run parked was never ours to send; the ledger must not hold it as billed by this
stack (the report of what was billed is true). Why it matters: the ledger (and reports, refund claims built on it)
attributes another integration's billing to this stack."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.flush.audit import HourReconciled, TrailResult
from functions.flush.customer import send_customer_usage
from tests.unit.review23_world import ACCOUNT, PRODUCT, hour, logged_world

DAY = timedelta(days=1)
B_ARN = "arn:aws:license-manager::294406891311:license:l-0000000000000000000000000000b0b0"


def test_a_dry_run_parked_record_in_an_hour_with_a_live_final_usage_is_not_rewritten_as_ours() -> None:
    world, marketplace = logged_world()
    live = world.deps
    dry = world.dry_run_deps()
    world.subscribe()
    b = CustomerRef(PRODUCT.code, license_arn=B_ARN)
    world.customers.put(Customer(b, "111122223333", SubscriptionState.ACTIVE, hour(8)))
    world.at(hour(10, 10))
    assert world.record(world.usage_event("a10", 10)).accepted == ("a10",)
    b_event = {**world.usage_event("b10", 7), "license_arn": B_ARN, "customer_aws_account_id": "111122223333"}
    assert world.record(b_event).accepted == ("b10",)
    assert ACCOUNT != "111122223333"

    world.clock.set(hour(10, 40))  # A's final usage, live
    leaving = replace(world.customer(), state=SubscriptionState.ENDING, final_usage_cutoff=hour(10, 30))
    assert send_customer_usage(leaving, live, out_of_time=lambda: False).sent == 1

    world.clock.set(hour(10, 50))
    world.deps = dry  # the emergency stop; the old integration bills B's 10:00
    marketplace.logged.append(TrailResult(B_ARN, None, "calls", hour(10), Decimal(7), "Success", "old-10", hour(11)))
    world.clock.set(hour(11) + DAY)  # the dry-run flush is down until 11:06 the next day
    world.at(hour(11, 7) + DAY)
    assert world.ledger.sealed_in_dry_run(hour(10))
    statuses = {e.record.customer: e.status for e in world.ledger.entries_of_hour(hour(10))}
    assert statuses == {world.ref.license_arn: "sent", B_ARN: "failed"}

    world.deps = live  # live again at 12:00 the next day
    world.at(hour(12, 7) + DAY)
    reported: list[HourReconciled] = []
    world.reconcile(hour(12, 7) + DAY, lambda: False, reported.append)
    assert hour(10) in [r.hour for r in reported]

    (b_entry,) = [e for e in world.ledger.entries_of_hour(hour(10)) if e.record.customer == B_ARN]
    b_findings = [f.kind for r in reported for f in r.findings if f.customer == B_ARN]
    # B's record was parked by the dry run: never ours to send, never billed by this stack
    assert (b_entry.status, b_entry.metering_record_id, b_findings) == ("failed", None, [])
