"""Attack 36 (on 6a17b09, ``cli adjust --settle``): after an upgrade, a refund an earlier version kept unanswered is
told "taken" on the strength of ANOTHER refund's adjustment, one AWS failed, and its hours are never refunded.

An earlier version's description names the hours and units only, no client token. A refund AWS failed after taking
it (``Purchase Agreement Billing Adjustment Failed``) is asked for again by the next run, under a token of its own
(``after`` the failed adjustment), with the same invoice, amount and description. Where that retry's call never
reached AWS and it was kept within 15 minutes of the failed one's creation (the operator answers the
``BillingAdjustmentFailed`` alarm at once), ``settle`` finds exactly one adjustment "like it" since its ``at`` less
``CLOCK_SKEW``: the failed refund's. It keeps that as the retry's answer. The retry now reads as failed too, so the next
run asks for the hours again under the token ``after`` that same failed adjustment, which is the retry's own token,
whose kept refund is answered: the claim is refused ("another adjust asked for one of these hours meanwhile; run it
again") on every run, for ever. The buyer's 10.00 is never refunded. Without ``--settle`` the retry would have been
sent again as it was and refunded it.

Against DynamoDB Local and the Marketplace emulator. The earlier version's two refunds are kept by this version's
``DynamoRefundClaims`` with that version's description; the failed event is AWS's example (review 27b's
``fail_refund``); the emulator never fails a refund itself, so the failed one stays in its list as taken."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from operations.agreement_billing import RefundEntry
from operations.refund_claims import AskedRefund, DynamoRefundClaims
from operations.refund_settlement import SETTLE_AFTER
from tests.integration.test_adjust import START, Refunds, refunds
from tests.integration.test_review27b_adjust_failed_refund_never_asked_again import fail_refund

EARLIER_DESCRIPTION = "Over-billed units refunded (1 hours): 2026-11-26T09Z api_calls 1000"  # no token


def _kept_by_the_earlier_version(world: Refunds, replacing: tuple[str, ...] = ()) -> AskedRefund:
    """The refund the dry run proposes, kept (and its hours claimed) as the earlier version kept it: its
    description naming no token."""
    status, shown = world.adjust()
    assert status == 0, shown
    (row,) = shown["refunds"]
    product, licence = world.settings.products[0].code, world.subscriptions[0]["license_arn"]
    keys = (f"{product}#{licence}#api_calls#2026-11-26T09", f"#{licence}#api_calls#2026-11-26T09")
    entry = RefundEntry(
        row["agreement"],
        row["invoice"],
        Decimal(row["amount"]),
        "USD",
        "INCORRECT_METERING",
        EARLIER_DESCRIPTION,
        row["client_token"],
    )
    asked = AskedRefund(entry, keys, "2026-11", row["units"])
    claims = DynamoRefundClaims(world.dynamodb, world.settings.metering_table)
    assert claims.claim(asked, world.clock.now(), replacing=replacing)
    return asked


def _refunded(world: Refunds, failed: str) -> Decimal:
    taken = [r for r in world.refunds_sent() if r["billingAdjustmentRequestId"] != failed]
    return sum((Decimal(r["adjustmentAmount"]) for r in taken), Decimal(0))


def test_a_retry_kept_by_an_earlier_version_is_not_answered_with_the_failed_refunds_adjustment(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world = refunds("0.01", settings, marketplace, dynamodb)
    world.move_to(START + timedelta(hours=1, minutes=5))
    world.use(0, "api_calls", 5000, "honest-0")  # at 10:00: the invoice has room beyond what was over-billed
    world.move_to(START)
    world.over_bill(1000)  # 09:00: 10.00 over-billed

    # the earlier version's refund: sent, taken, answered; then AWS fails it (it refunded nothing)
    first = _kept_by_the_earlier_version(world)
    billing = world.target().billing
    assert billing is not None
    (outcome,) = billing().refund([first.entry])
    assert outcome.request_id is not None
    claims = DynamoRefundClaims(world.dynamodb, world.settings.metering_table)
    claims.answered(first.entry.client_token, outcome.request_id)
    (sent,) = world.refunds_sent()
    fail_refund(world, sent)

    # five minutes later the earlier version asks for it again, under a token of its own; the call never reaches AWS
    world.move_to(world.clock.now() + timedelta(minutes=5))
    retry = _kept_by_the_earlier_version(world, replacing=(first.entry.client_token,))
    assert retry.entry.client_token != first.entry.client_token

    # upgraded: settle, then adjust as often as the operator likes
    world.move_to(world.clock.now() + SETTLE_AFTER)
    status, out, err = world.cli("adjust", "--settle", "--send")
    assert status in (0, 1), err
    shown = [out]
    for _ in range(2):
        status, again, err = world.cli("adjust", "--from", "2026-11-26T09:00Z", "--to", "2026-11-26T10:00Z", "--send")
        assert status in (0, 1), err
        shown.append(again)

    # the failed refund refunded nothing: the 10.00 over-billed is refunded once
    assert _refunded(world, outcome.request_id) == Decimal("10.00"), "\n".join(shown)
