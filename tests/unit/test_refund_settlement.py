"""What ``cli adjust --settle`` makes of AWS's adjustments (``operations.refund_settlement``), on an in-memory list of
them: one adjustment like a refund (its invoice, amount, currency and description) is its answer; another refund's
on the same invoice and amount is not, nor one kept as another refund's answer; two alike, or none yet, decide
nothing; none a day after it was last sent means AWS never took it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from operations.agreement_billing import BillingAdjustment, RefundEntry
from operations.refund_claims import AskedRefund
from operations.refund_settlement import SETTLE_AFTER, Verdict, settle

KEPT = datetime(2026, 11, 27, 12, tzinfo=UTC)


def refund(token: str, description: str) -> AskedRefund:
    entry = RefundEntry("agmt-1", "2028746221", Decimal("3.00"), "USD", "INCORRECT_METERING", description, token)
    return AskedRefund(entry, (f"p#c#d#2026-11-26T{token[-2:]}",), "2026-11", "300", at=KEPT)


class Adjustments:
    """AWS's adjustments of the agreement, as ``MarketplaceAgreementBilling.adjustments_like`` reads them."""

    def __init__(self, *made: BillingAdjustment) -> None:
        self.made = list(made)

    def adjustments_like(self, entry: RefundEntry) -> list[BillingAdjustment]:
        return [
            a
            for a in self.made
            if (a.invoice_id, a.amount, a.currency) == (entry.invoice_id, entry.amount, entry.currency)
        ]


def made(request_id: str, description: str, status: str = "COMPLETED") -> BillingAdjustment:
    return BillingAdjustment(request_id, "2028746221", Decimal("3.00"), "USD", status, description, KEPT)


def test_the_one_adjustment_with_its_description_is_its_answer_not_another_refunds_alike() -> None:
    ours, other = refund("adjust-aa10", "3 units (ref adjust-aa10)"), refund("adjust-bb11", "3 units (ref adjust-bb11)")
    aws = Adjustments(made("ba-other", other.entry.description), made("ba-ours", ours.entry.description))
    (settled,) = settle([(ours, False)], aws, {}, KEPT + timedelta(minutes=5))
    assert (settled.verdict, settled.adjustment and settled.adjustment.request_id) == (Verdict.TAKEN, "ba-ours")


def test_two_alike_decide_nothing_and_none_means_never_only_a_day_after_it_was_kept() -> None:
    # an earlier version's description names no token: two refunds of the same hours may read the same
    ours = refund("adjust-aa10", "Over-billed units refunded (1 hours): 2026-11-26T10Z api_calls 300")
    aws = Adjustments(made("ba-1", ours.entry.description), made("ba-2", ours.entry.description))
    (unsure,) = settle([(ours, True)], aws, {}, KEPT + SETTLE_AFTER)
    assert unsure.verdict is Verdict.UNSURE
    assert "ba-1, ba-2" in unsure.why
    # one of them the answer of another refund of ours (an earlier version's, asked for again): the other is its own
    (taken,) = settle([(ours, True)], aws, {"ba-1": "adjust-other"}, KEPT + SETTLE_AFTER)
    assert (taken.verdict, taken.adjustment and taken.adjustment.request_id) == (Verdict.TAKEN, "ba-2")
    nothing = Adjustments()
    (soon,) = settle([(ours, True)], nothing, {}, KEPT + SETTLE_AFTER - timedelta(seconds=1))
    (later,) = settle([(ours, True)], nothing, {}, KEPT + SETTLE_AFTER)
    assert (soon.verdict, later.verdict) == (Verdict.UNSURE, Verdict.NEVER_TAKEN)
    # a day from when it was last sent, not when it was first kept
    resent = replace(ours, sent=KEPT + timedelta(hours=20))
    (recent,) = settle([(resent, True)], nothing, {}, KEPT + SETTLE_AFTER)
    assert recent.verdict is Verdict.UNSURE
