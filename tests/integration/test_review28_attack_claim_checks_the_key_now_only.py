"""Review 28 attack: ``claim`` checks an hour's key now only, so an operator still on the earlier version, running
``adjust --send`` at the same time, claims and refunds the same hour under its former key, and both refunds go.

Until everyone runs this version (an operator's checkout not yet updated, a scheduled job on the earlier build), the
earlier version claims an hour only CloudTrail knows under no product (``#<customer>#<dimension>#<hour>``). This
version reads that key before it proposes (``DynamoRefundClaims.earlier``), but its conditional put (``claim``) looks
at the key now only (``<product>#...``): a claim made under the former key between the two is never seen. Both
versions make the same client token from the same window (it names no product), so AWS takes one refund where their
windows agree; where they differ (10:00 alone there, 10:00 and 11:00 here), 10:00 is refunded twice.

The earlier version's run is played where this run reads the invoices (after ``earlier``, before ``claim``): its
claim written as that version wrote it (``claim`` of an AskedRefund keyed under no product) and its refund sent to the
emulator. Against DynamoDB Local and the Marketplace emulator."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from operations.agreement_billing import Invoice, MarketplaceAgreementBilling, RefundEntry, RefundOutcome
from operations.cli import main
from operations.refund_claims import AskedRefund, DynamoRefundClaims
from tests.integration.test_adjust import Refunds, refunds

PRICE = Decimal("0.01")  # the emulator's invoice price per unit, and our list price


class _EarlierVersionMeanwhile(MarketplaceAgreementBilling):
    """The invoices as AWS lists them; the first time, an operator on the earlier version refunds 10:00 meanwhile."""

    def __init__(self, aws: MarketplaceAgreementBilling, world: Refunds) -> None:
        self.aws = aws
        self.world = world
        self.played = False

    def refund(self, entries: list[RefundEntry]) -> list[RefundOutcome]:
        return self.aws.refund(entries)

    def invoices(self, agreement_id: str, year: int, month: int) -> list[Invoice]:
        found = self.aws.invoices(agreement_id, year, month)
        if not self.played:
            self.played = True
            invoice = max(found, key=lambda i: i.max_adjustment)
            licence = self.world.subscriptions[0]["license_arn"]
            entry = RefundEntry(
                agreement_id=agreement_id,
                invoice_id=invoice.invoice_id,
                amount=Decimal("10.00"),
                currency=invoice.currency,
                reason_code="INCORRECT_METERING",
                description="Over-billed units refunded (1 hours): 2026-11-26T10Z api_calls 1000",
                client_token="adjust-" + "e" * 40,
            )
            claims = DynamoRefundClaims(self.world.dynamodb, self.world.settings.metering_table)
            asked = AskedRefund(entry, (f"#{licence}#api_calls#2026-11-26T10",), "2026-11", "1000")
            assert claims.claim(asked, self.world.clock.now())
            (outcome,) = self.aws.refund([entry])
            assert outcome.request_id is not None
            claims.answered(entry.client_token, outcome.request_id)
        return found


def test_an_hour_the_earlier_version_refunds_meanwhile_is_not_refunded_again(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world = refunds(str(PRICE), settings, marketplace, dynamodb)
    world.bill_two_unused_hours()  # 10:00 and 11:00: 1,000 and 700 units nobody used

    plain = world.target()
    assert plain.billing is not None
    book = _EarlierVersionMeanwhile(plain.billing(), world)
    target = replace(plain, billing=lambda: book)
    out, err_text = io.StringIO(), io.StringIO()
    argv = ["adjust", "--from", "2026-11-26T10:00Z", "--to", "2026-11-26T11:00Z", "--send", "--json"]
    world.settle(argv)  # as world.cli does for adjust: the window's hours final
    status = main(argv, out=out, err=err_text, target=lambda _: target)
    assert book.played
    outcomes = [r["outcome"] for r in json.loads(out.getvalue())["refunds"]] if status in (0, 1) else []

    refunded = sum((Decimal(r["adjustmentAmount"]) for r in world.refunds_sent()), Decimal(0))
    # 10:00 once (10.00), by whichever claimed it first; 11:00 (7.00) at most: not 27.00, 10:00 refunded by both
    assert refunded <= (1000 + 700) * PRICE, (outcomes, err_text.getvalue())
