"""Attack 36 (on 6a17b09, ``cli adjust --settle``): a refund AWS never took, whose resend AWS refuses for ever, is
never freed, and the over-billed hours it holds are never refunded.

A refund whose call never reached AWS (throttled on every try) is kept, unanswered. Before the next run the seller
refunds something else on the same invoice by hand, in the console (a goodwill credit): the invoice's
``maxAdjustmentAmount`` is now below the kept refund's amount. Every ``adjust --send`` sends the refund again as it
was; AWS refuses it (VALIDATION_EXCEPTION: over maxAdjustmentAmount), and a resend's error frees nothing (its first
send may have been taken), so it is kept and sent again by the next run, for ever, and the run exits 1 saying
``adjust --settle`` asks AWS. ``--settle`` does ask: AWS lists no adjustment like it a day after it was kept, "AWS
never took it", and then leaves it "to the next adjust --send, which sends it again as it was" (only a held refund is
freed: ``run_settle``), which AWS refuses again. Neither path ever frees its hours, so no refund of them, capped at
what the invoice has left, is ever worked out: the buyer's 9.00 the invoice still allows is never refunded.

Against DynamoDB Local and the Marketplace emulator: 1,000 units over-billed at 0.01 (10.00), the agreement's
invoice 10.00, 1.00 refunded by hand."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from operations.agreement_billing import RefundEntry
from operations.refund_claims import DynamoRefundClaims
from operations.refund_settlement import SETTLE_AFTER
from tests.integration.test_adjust import BATCH, WINDOW, refunds


def _ours(world: Any) -> Decimal:
    """What the tool refunded (not the seller's refund by hand)."""
    return sum(
        (Decimal(r["adjustmentAmount"]) for r in world.refunds_sent() if r["clientToken"].startswith("adjust-")),
        Decimal(0),
    )


def test_a_refund_aws_never_took_and_refuses_to_take_now_frees_its_hours_for_what_the_invoice_allows(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world = refunds("0.01", settings, marketplace, dynamodb)
    world.over_bill(1000)  # 10.00 over-billed, on an invoice of 10.00

    # the refund's call never reaches AWS: kept, unanswered
    world.marketplace.admin.queue_errors({"operation": BATCH, "code": "ThrottlingException", "count": 20})
    world.cli("adjust", *WINDOW, "--send")
    world.marketplace.admin.queue_errors()
    (kept,) = DynamoRefundClaims(world.dynamodb, world.settings.metering_table).unanswered()
    assert kept.entry.amount == Decimal(10)
    assert world.refunds_sent() == []

    # the seller refunds 1.00 of something else on that invoice by hand, in the console
    manual = RefundEntry(
        kept.entry.agreement_id, kept.entry.invoice_id, Decimal(1), "USD", "OTHER", "goodwill credit", "console-1"
    )
    billing = world.target().billing
    assert billing is not None
    (done,) = billing().refund([manual])
    assert done.request_id is not None

    status, out, err = world.cli("adjust", *WINDOW, "--send")  # sent again as it was: 10.00 > the 9.00 left
    assert status == 1, err + out
    assert "refused: VALIDATION_EXCEPTION" in out, out
    assert _ours(world) == 0
    assert kept.at is not None
    world.move_to(kept.at + SETTLE_AFTER)
    status, out, err = world.cli("adjust", "--settle", "--send")
    assert status in (0, 1), err
    for _ in range(2):
        world.cli("adjust", *WINDOW, "--send")

    # AWS never took it, and the invoice allows 9.00 more: 9.00 of the 10.00 over-billed is refunded, once
    assert _ours(world) == Decimal(9), f"{_ours(world)} refunded of the 9.00 the invoice allows; settle said {out}"
