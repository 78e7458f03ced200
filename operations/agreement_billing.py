"""ListAgreementInvoiceLineItems and BatchCreateBillingAdjustmentRequest (AWS Marketplace Agreement Service), for
``cli adjust``: an agreement's invoices, and refunds of parts of them; ListBillingAdjustmentRequests and
GetBillingAdjustmentRequest, for ``cli adjust --settle``: the refunds AWS made, read back.

Only the operator asks these, with their own credentials: no function of the stack does, so they live here and not in
``functions/`` (whose modules are each one a handler imports). Botocore's standard retries are kept: every refund
entry carries its own client token, so a resend after a lost answer is the same entry, never a second refund.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

MAX_INVOICE_PAGES = 20  # an agreement has an invoice a month: a service that kept paging would loop for ever
MAX_ADJUSTMENT_PAGES = 100  # 50 a page: more refunds of one agreement than anyone asks for


@dataclass(frozen=True)
class Invoice:
    agreement_id: str
    invoice_id: str
    year: int
    month: int
    amount: Decimal
    max_adjustment: Decimal  # the most a refund of it may still be
    currency: str


@dataclass(frozen=True)
class RefundEntry:
    agreement_id: str
    invoice_id: str
    amount: Decimal  # positive: what is refunded
    currency: str
    reason_code: str
    description: str
    client_token: str


@dataclass(frozen=True)
class RefundOutcome:
    client_token: str
    request_id: str | None  # the billing adjustment's id (ba-...) when taken
    error_code: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class BillingAdjustment:
    """A refund AWS made (GetBillingAdjustmentRequest)."""

    request_id: str
    invoice_id: str
    amount: Decimal
    currency: str
    status: str  # PENDING, VALIDATION_FAILED (it refunded nothing) or COMPLETED
    description: str | None
    created_at: datetime


class AgreementBillingUnavailable(RuntimeError):
    """The Agreement Service refused or could not answer the call as a whole (not one entry of it)."""


def amount_text(value: Decimal) -> str:
    """The model's PositiveAmountUpto8Decimals: digits, at most 8 decimals, no exponent."""
    return format(value.quantize(Decimal("0.00000001")).normalize(), "f")


def _decimal(text: object) -> Decimal:
    try:
        return Decimal(str(text))
    except InvalidOperation:
        raise AgreementBillingUnavailable(f"an amount that is not a number: {text!r}") from None


class MarketplaceAgreementBilling:
    def __init__(self, client: Any, sender: Any | None = None) -> None:
        """``client`` reads (botocore's retries); ``sender`` sends refunds, once a call (``operations.target``: a retry
        of a send whose answer was lost could be refused as if never taken; attack 39). Reads are retried: one
        throttled Get stopped a whole ``--settle`` (attack 43)."""
        self._client = client
        self._sender = sender or client

    def _call(self, operation: str, *, via: Any = None, **request: Any) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = getattr(via or self._client, operation)(**request)
        except ClientError as error:
            details = error.response.get("Error", {})
            raise AgreementBillingUnavailable(
                f"{details.get('Code', 'Unknown')}: {details.get('Message', '')}"
            ) from None
        except BotoCoreError as error:
            raise AgreementBillingUnavailable(type(error).__name__) from None
        return answer

    def invoices(self, agreement_id: str, year: int, month: int) -> list[Invoice]:
        """The agreement's invoices (not credit memos) of one billing period."""
        request: dict[str, Any] = {
            "agreementId": agreement_id,
            "groupBy": "INVOICE_ID",
            "invoiceType": "INVOICE",
            "invoiceBillingPeriod": {"month": month, "year": year},
        }
        found: list[Invoice] = []
        for _ in range(MAX_INVOICE_PAGES):
            page = self._call("list_agreement_invoice_line_items", **request)
            for summary in page.get("agreementInvoiceLineItemGroupSummaries") or []:
                money = summary.get("pricingCurrencyAmount") or {}
                period = summary.get("invoiceBillingPeriod") or {}
                found.append(
                    Invoice(
                        agreement_id=str(summary.get("agreementId", agreement_id)),
                        invoice_id=str(summary["invoiceId"]),
                        year=int(period.get("year", year)),
                        month=int(period.get("month", month)),
                        amount=_decimal(money.get("amount", "0")),
                        max_adjustment=_decimal(money.get("maxAdjustmentAmount", "0")),
                        currency=str(money.get("currencyCode", "")),
                    )
                )
            token = page.get("nextToken")
            if not token:
                return found
            request["nextToken"] = token
        raise AgreementBillingUnavailable(f"still paging after {MAX_INVOICE_PAGES} pages")

    def refund(self, entries: list[RefundEntry]) -> list[RefundOutcome]:
        """Each entry's outcome: its billing adjustment's id, or the error AWS gave it alone."""
        answer = self._call(
            "batch_create_billing_adjustment_request",
            via=self._sender,
            billingAdjustmentRequestEntries=[
                {
                    "agreementId": e.agreement_id,
                    "originalInvoiceId": e.invoice_id,
                    "adjustmentAmount": amount_text(e.amount),
                    "currencyCode": e.currency,
                    "adjustmentReasonCode": e.reason_code,
                    "description": e.description,
                    "clientToken": e.client_token,
                }
                for e in entries
            ],
        )
        outcomes = [RefundOutcome(str(i["clientToken"]), str(i["billingAdjustmentRequestId"])) for i in answer["items"]]
        outcomes += [
            RefundOutcome(str(e["clientToken"]), None, str(e["code"]), str(e["message"])) for e in answer["errors"]
        ]
        return outcomes

    def adjustments_like(self, entry: RefundEntry) -> list[BillingAdjustment]:
        """The billing adjustments of the entry's agreement on its invoice, of its amount and currency, whenever made,
        each read whole: only GetBillingAdjustmentRequest says its description."""
        request: dict[str, Any] = {"agreementId": entry.agreement_id, "maxResults": 50}
        alike: list[str] = []
        for _ in range(MAX_ADJUSTMENT_PAGES):
            page = self._call("list_billing_adjustment_requests", **request)
            alike += [
                str(item["billingAdjustmentRequestId"])
                for item in page.get("items") or []
                if item.get("originalInvoiceId") == entry.invoice_id
                and _decimal(item.get("adjustmentAmount", "0")) == entry.amount
                and item.get("currencyCode") == entry.currency
            ]
            token = page.get("nextToken")
            if not token:
                return [self.adjustment(entry.agreement_id, request_id) for request_id in alike]
            request["nextToken"] = token
        raise AgreementBillingUnavailable(f"still paging after {MAX_ADJUSTMENT_PAGES} pages")

    def adjustment(self, agreement_id: str, request_id: str) -> BillingAdjustment:
        """GetBillingAdjustmentRequest: the adjustment as AWS holds it now."""
        found = self._call(
            "get_billing_adjustment_request", agreementId=agreement_id, billingAdjustmentRequestId=request_id
        )
        return BillingAdjustment(
            request_id=request_id,
            invoice_id=str(found["originalInvoiceId"]),
            amount=_decimal(found["adjustmentAmount"]),
            currency=str(found["currencyCode"]),
            status=str(found["status"]),
            description=found.get("description"),
            created_at=found["createdAt"],
        )
