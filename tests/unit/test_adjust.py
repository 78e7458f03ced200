"""Refund proposals from over-billed hours (in-memory fakes only): the excess at list price on the month's invoice,
never above the invoice's maxAdjustmentAmount, the same client token for the same refund, and each hour that cannot
be refunded named with why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.settings import Dimension, Product, Settings
from operations.adjust import REASON, OverBilled, proposals
from operations.agreement_billing import BillingAdjustment, Invoice, RefundEntry, RefundOutcome, amount_text
from operations.queries import OperationsDeps
from tests.fakes import InMemoryCustomers, InMemoryUsage
from tests.unit.test_estimates import Ledger

HOUR = datetime(2026, 11, 26, 9, tzinfo=UTC)
SETTLED = HOUR + timedelta(days=2)  # what was due in the hours is final (operations.adjust)
PRODUCT = Product(
    code="priced",
    name="Priced",
    dimensions=(Dimension(name="api_calls", price="0.01"), Dimension(name="unpriced")),
)
LICENCE = "arn:aws:license-manager::1:license:l-a"
AGREEMENT = "agmt-overbilled"


@dataclass
class Book:
    """The agreements' invoices (ListAgreementInvoiceLineItems) as set; refunds kept, nothing refused."""

    max_adjustment: Decimal = Decimal("100")
    asked: list[tuple[str, int, int]] = field(default_factory=list)
    refunded: list[RefundEntry] = field(default_factory=list)

    def invoices(self, agreement_id: str, year: int, month: int) -> list[Invoice]:
        self.asked.append((agreement_id, year, month))
        return [Invoice(agreement_id, "2028746221", year, month, Decimal("500"), self.max_adjustment, "USD")]

    def refund(self, entries: list[RefundEntry]) -> list[RefundOutcome]:
        self.refunded += entries
        return [RefundOutcome(e.client_token, f"ba-{i}") for i, e in enumerate(entries)]

    def adjustment(self, agreement_id: str, request_id: str) -> BillingAdjustment:
        """GetBillingAdjustmentRequest: this AWS fails no refund it took."""
        return BillingAdjustment(request_id, "2028746221", Decimal(0), "USD", "COMPLETED", None, SETTLED)


def deps(now: datetime = SETTLED) -> OperationsDeps:
    customers = InMemoryCustomers()
    customers.put(
        Customer(
            ref=CustomerRef(PRODUCT.code, license_arn=LICENCE),
            customer_aws_account_id="111100000001",
            state=SubscriptionState.ACTIVE,
            state_changed_at=HOUR,
            agreement_id=AGREEMENT,
        )
    )
    return OperationsDeps(Settings(products=(PRODUCT,)), customers, InMemoryUsage(), Ledger(), ManualClock(now))


def billed(units: int, accepted: int, *, hour: int = 9, dimension: str = "api_calls", customer: str = LICENCE):
    return OverBilled(
        HOUR.replace(hour=hour), PRODUCT.code, customer, "111100000001", dimension, Decimal(units), Decimal(accepted)
    )


def test_an_invoices_over_billed_hours_are_one_refund_of_their_excess_at_list_price() -> None:
    book = Book()
    (proposal,) = proposals(deps(), [billed(1200, 200), billed(300, 0, hour=10)], book)
    assert book.asked == [(AGREEMENT, 2026, 11)]
    assert (proposal.problem, proposal.capped) == (None, False)
    # 1000 + 300 units over, at 0.01 each
    assert proposal.amount == Decimal("13.00")
    entry = proposal.entry()
    assert (entry.invoice_id, amount_text(entry.amount), entry.currency, entry.reason_code) == (
        "2028746221",
        "13",
        "USD",
        REASON,
    )
    assert "2026-11-26T09Z api_calls 1000" in entry.description
    # it names its token, which AWS says back, so a refund whose answer was lost is told by it (adjust --settle)
    assert entry.description.endswith(f" (ref {entry.client_token})")


def test_a_long_refunds_description_keeps_its_token_within_the_models_500_characters() -> None:
    hours = [billed(1200, 200, hour=h) for h in range(24)]
    (proposal,) = proposals(deps(), hours, Book())
    description = proposal.entry().description
    assert len(description) <= 500
    assert description.endswith(f"... (ref {proposal.client_token})")


def test_a_refund_is_never_more_than_the_invoices_max_adjustment_amount() -> None:
    book = Book(max_adjustment=Decimal("4.50"))
    (proposal,) = proposals(deps(), [billed(1200, 200)], book)  # 10.00 over at list price
    assert proposal.charge == Decimal("10.00")
    assert (proposal.amount, proposal.capped) == (Decimal("4.50"), True)
    assert proposal.entry().amount <= book.max_adjustment


def test_the_same_refund_has_the_same_client_token_and_another_refund_another() -> None:
    first = proposals(deps(), [billed(1200, 200)], Book())[0].client_token
    assert proposals(deps(), [billed(1200, 200)], Book())[0].client_token == first
    assert proposals(deps(), [billed(1300, 200)], Book())[0].client_token != first
    assert len(first) <= 64  # the model's ClientToken


def test_what_cannot_be_refunded_is_named_with_why_and_never_sent() -> None:
    book = Book(max_adjustment=Decimal(0))
    found = proposals(
        deps(),
        [
            billed(5, 0, dimension="unpriced"),
            billed(5, 0, customer="arn:aws:license-manager::1:license:l-x"),
            billed(9, 0),
        ],
        book,
    )
    problems = sorted(p.problem or "" for p in found)
    assert problems == [
        "no agreement known for this customer",
        "no invoice of 2026-11 with anything left to refund (yet)",
        "no list price for unpriced in cdk.json: the refund's amount cannot be worked out",
    ]
    assert all(p.amount is None for p in found)
