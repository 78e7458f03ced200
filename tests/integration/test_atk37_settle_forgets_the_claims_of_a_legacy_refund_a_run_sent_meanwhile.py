"""Attack 37 (on 937d5a4, ``cli adjust --settle``), against DynamoDB Local and the Marketplace emulator: a refund kept
by a version before 937d5a4 has no ``sent``, and ``DynamoRefundClaims.forget`` then deletes its claims whatever their
``at`` (the condition "no run claimed it since" is left out), while the refund itself is kept once a run sent it
meanwhile (``attribute_not_exists(sent)``). An ``adjust --send`` that sends it again while ``adjust --settle --send``
runs (between settle's read of AWS's adjustments and its forget), and that AWS takes, leaves a refund AWS took,
answered, with no claim of its hour: the next ``adjust --send`` over a wider window proposes that hour afresh under a
new token and refunds it a second time.

1,000 units over-billed at 10:00 and 700 at 11:00 (17.00); the refund of 10:00 is kept, its call throttled, and its
item is made as an earlier version kept it (no ``sent``). The run beside settle is played by wrapping our own
``MarketplaceAgreementBilling.adjustments_like`` (the boto3 calls are unchanged): AWS's list is read, then the other
run sends the refund. 17.00 is due back; 27.00 is refunded."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any, cast

from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from operations.agreement_billing import BillingAdjustment, RefundEntry
from operations.refund_claims import AskedRefund, DynamoRefundClaims
from operations.refund_settlement import SETTLE_AFTER
from tests.integration.test_adjust import BATCH, refunds
from tests.integration.test_review29_held_refund_sent_from_a_narrower_window import refunded

TEN = ("--from", "2026-11-26T10:00Z", "--to", "2026-11-26T10:00Z")


class SentMeanwhile:
    """Our Agreement Service client, as read by a settle run beside which another operator's run sends: AWS's list is
    read, then ``meanwhile`` runs, once."""

    def __init__(self, real: Any, meanwhile: Any) -> None:
        self.real, self.meanwhile = real, meanwhile

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def adjustments_like(self, entry: RefundEntry) -> list[BillingAdjustment]:
        listed: list[BillingAdjustment] = self.real.adjustments_like(entry)
        run, self.meanwhile = self.meanwhile, None
        if run is not None:
            run()
        return listed


def a_refund_of_ten_never_sent(world: Any) -> AskedRefund:
    """10:00 and 11:00 billed by nobody (1,000 and 700 units: 17.00), and the refund of 10:00 kept, its call never
    reaching AWS."""
    world.bill_two_unused_hours()
    world.marketplace.admin.queue_errors({"operation": BATCH, "code": "ThrottlingException", "count": 20})
    world.cli("adjust", *TEN, "--send")
    world.marketplace.admin.queue_errors()
    (kept,) = DynamoRefundClaims(world.dynamodb, world.settings.metering_table).unanswered()
    return kept


def test_a_legacy_refund_sent_again_while_settle_runs_is_refunded_once(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world = refunds("0.01", settings, marketplace, dynamodb)
    kept = a_refund_of_ten_never_sent(world)
    claims = DynamoRefundClaims(world.dynamodb, world.settings.metering_table)
    assert kept.entry.amount == Decimal(10)
    assert refunded(world) == 0
    # as a version before 937d5a4 kept it: no ``sent``
    world.dynamodb.update_item(
        TableName=world.settings.metering_table,
        Key={"pk": {"S": "REFUND"}, "sk": {"S": f"ASKED#{kept.entry.client_token}"}},
        UpdateExpression="REMOVE sent",
    )
    assert claims.unanswered()[0].sent is None

    # upgraded, a day later: settle reads AWS's list (nothing); meanwhile the cron's adjust --send sends it again
    assert kept.at is not None
    world.move_to(kept.at + SETTLE_AFTER + timedelta(minutes=1))
    target = world.target()
    assert target.billing is not None
    beside = cast(Any, SentMeanwhile(target.billing(), lambda: world.cli("adjust", *TEN, "--send")))
    world._target = replace(target, billing=lambda: beside)
    status, out, err = world.cli("adjust", "--settle", "--send")
    assert status in (0, 1), err
    assert refunded(world) == Decimal(10)  # AWS took it when sent again

    for _ in range(2):
        world.cli("adjust", "--from", "2026-11-26T10:00Z", "--to", "2026-11-26T11:00Z", "--send")

    # 10:00 refunded once (by the refund AWS took), 11:00 once: 17.00 for 17.00 over-billed
    assert refunded(world) == Decimal(17), f"{refunded(world)} refunded for 17.00 over-billed; settle said {out}"
