"""Review 27b: an over-billed hour whose refund AWS failed after taking it is never refunded again.

BatchCreateBillingAdjustmentRequest takes a refund and processes it afterwards: ``Purchase Agreement Billing
Adjustment Failed`` says it refunded nothing (the lifecycle keeps it as a notice, ``customers`` shows it, and the
``BillingAdjustmentFailed`` alarm fires). ``cli adjust`` kept the hour claimed under the failed refund's token, so
every later run names it "refunded before" and nothing, no command, refunds it: the buyer keeps paying for units
nobody used. The emulator never fails a refund it took (its README), so the event is AWS's published example with
the emulator's ids, kept as the lifecycle keeps it; the emulator takes the second refund, as AWS would a refund asked
again under a new client token. Against DynamoDB Local and the emulator."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from functions.customers.lifecycle_store import DynamoLifecycleStore
from functions.lifecycle.notifications import parse_notification
from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from tests.integration.test_adjust import START, Refunds, refunds

FAILED = Path(__file__).parents[1] / "fixtures" / "aws" / "billing_adjustment_failed_proposer.json"


def fail_refund(world: Refunds, sent: dict[str, Any]) -> None:
    """AWS's Failed event for the refund ``sent``, kept as the lifecycle keeps it."""
    event = json.loads(FAILED.read_text())
    event["time"] = world.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    event["detail"]["agreement"]["id"] = sent["agreementId"]
    event["detail"]["billingAdjustmentRequest"].update(
        id=sent["billingAdjustmentRequestId"],
        adjustmentAmount=f"-{sent['adjustmentAmount']}",
        adjustmentReasonCode=sent["adjustmentReasonCode"],
    )
    event["detail"]["invoice"]["originalInvoiceId"] = sent["originalInvoiceId"]
    notice = parse_notification(json.dumps(event), message_id="m-failed", sent_at=world.clock.now()).notice
    assert notice is not None
    assert notice.status == "FAILED"
    assert DynamoLifecycleStore(world.dynamodb, world.settings.customers_table).record_notice(notice)


def test_an_hour_whose_refund_failed_is_refunded_by_the_next_run(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world = refunds("0.01", settings, marketplace, dynamodb)
    world.move_to(START + timedelta(hours=1, minutes=5))
    world.use(0, "api_calls", 5000, "honest-0")  # at 10:00: the invoice has room beyond what was over-billed
    world.move_to(START)  # back to 09:00, where over_bill bills
    world.over_bill(1000)
    status, _ = world.adjust("--send")
    assert status == 0
    (sent,) = world.refunds_sent()
    fail_refund(world, sent)  # AWS processed it and refunded nothing

    status, again = world.adjust("--send")
    assert status == 0, again
    status, third = world.adjust("--send")  # and once more: nothing more
    assert status == 0, third

    sent_all = world.refunds_sent()
    failed_ids = {sent["billingAdjustmentRequestId"]}
    refunded = sum(
        (Decimal(r["adjustmentAmount"]) for r in sent_all if r["billingAdjustmentRequestId"] not in failed_ids),
        Decimal(0),
    )
    assert refunded == Decimal("10.00"), again  # 1,000 units at 0.01, refunded once after the failed refund
    assert len({r["clientToken"] for r in sent_all}) == len(sent_all)  # a new token: AWS answers the old one as failed
