"""Attack 60 on da4405a: the other direction of a mode switch around a leaving buyer's final usage. At go-live the
rehearsal's last hour is still open; a leaving buyer's final-usage step runs in it in dry run and stores their 10:00
record ``dry_run``; go-live is deployed; the 11:06 flush seals 10:00 LIVE (no SEAL/DRY#10:00) and bills every other
buyer's 10:00 record, but the leaving buyer's, stored already, "keeps its outcome" and is never sent. The old
integration, switched off at go-live, no longer bills. The reconciliation of 10:00 (a live hour: another record of it
``sent``) says nothing of a ``dry_run`` record in a live hour (``sealed_mismatch``: "dry_run: stored, never billed, by
design"): the buyer's last usage is lost, silently. (Marketplace keeps one record per customer, dimension and hour:
had the live flush sent it, a billing by the old integration too would have been answered as a duplicate, not billed
twice.)

Scenario: rehearsal (dry-run); buyers A and B use the product at 10:10; A leaves (cutoff 10:30), A's final-usage
step runs at 10:40 in dry run; go-live at 10:50; the 11:06 live flush seals 10:00; the reconciliation at 14:07.
Invariants 3 (nothing lost; the report of what was billed is true) and 4 (a final-usage step running in the other
mode leaves no hour misclassified). Why it matters: a leaving buyer's last hour unbilled, no alarm, no finding.

Fixed (cc24175): 10:00 is known sealed live (``modes_since``), and a record of it a dry run answered is reported
(``answered in dry run, its hour sealed live``, never billed by this stack), so the operator can bill it
(``cli adjust``); it is not sent by the flush (the hour's total could be one the old integration billed)."""

from __future__ import annotations

from dataclasses import replace

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.flush.audit import ANSWERED_IN_DRY_RUN, AuditDeps, HourReconciled, reconcile_due
from functions.flush.customer import send_customer_usage
from functions.flush.dry_run import DryRunMeteringGateway
from tests.fakes import LoggedMarketplace
from tests.unit.review23_world import PRODUCT, World, hour

B_ARN = "arn:aws:license-manager::294406891311:license:l-0000000000000000000000000000b0b0"


def test_a_dry_run_final_usage_in_an_hour_then_sealed_live_is_billed_or_reported() -> None:
    world = World(marketplace=lambda clock: LoggedMarketplace(clock))
    marketplace = world.marketplace
    assert isinstance(marketplace, LoggedMarketplace)
    live = world.deps
    dry = replace(
        world.deps,
        settings=replace(world.settings, metering_mode="dry-run"),
        gateway=DryRunMeteringGateway(world.clock),
    )
    world.deps = dry  # the rehearsal
    world.subscribe()
    b = CustomerRef(PRODUCT.code, license_arn=B_ARN)
    world.customers.put(Customer(b, "111122223333", SubscriptionState.ACTIVE, hour(8)))
    world.at(hour(10, 10))
    assert world.record(world.usage_event("a10", 10)).accepted == ("a10",)
    b_event = {**world.usage_event("b10", 7), "license_arn": B_ARN, "customer_aws_account_id": "111122223333"}
    assert world.record(b_event).accepted == ("b10",)

    world.clock.set(hour(10, 40))  # A's final usage, in dry run
    leaving = replace(world.customer(), state=SubscriptionState.ENDING, final_usage_cutoff=hour(10, 30))
    assert send_customer_usage(leaving, dry, out_of_time=lambda: False).dry_run == 1

    world.clock.set(hour(10, 50))
    world.deps = live  # go-live; the old integration is switched off
    world.at(hour(14, 7))
    assert not world.ledger.sealed_in_dry_run(hour(10))  # sealed live
    statuses = {e.record.customer: e.status for e in world.ledger.entries_of_hour(hour(10))}
    assert statuses == {world.ref.license_arn: "dry_run", B_ARN: "sent"}

    reported: list[HourReconciled] = []
    audit = AuditDeps(world.ledger.entries_of_hour, marketplace, mark=world.ledger)
    reconcile_due(audit, hour(14, 7), lambda: False, reported.append)
    assert hour(10) in [r.hour for r in reported]
    a_findings = [f.kind for r in reported if r.hour == hour(10) for f in r.findings if f.customer != B_ARN]
    assert world.billed_hours() == {hour(10): 7}  # B's 7 units; A's 10 never billed...
    assert a_findings == [ANSWERED_IN_DRY_RUN], "A's 10 units of an hour sealed live: never billed, never reported"
