"""ListAgreementInvoiceLineItems (AWS Marketplace Agreement Service): an agreement's invoices, grouped by invoice id
(the only ``groupBy`` the model allows), each with its amount and the most a billing adjustment may still refund
(``maxAdjustmentAmount``).

The emulator invoices an agreement's metered usage per calendar month (UTC) at the price its GetAgreementTerms lists
(``agreement_terms.PRICE_PER_UNIT``), free-trial records at nothing; the refunds asked so far
(``billing_adjustments``) come off what may still be refunded, but for those AWS failed. README.md
("ListAgreementInvoiceLineItems") says where AWS gives no values and what the emulator chose.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .agreement_terms import CURRENCY, PRICE_PER_UNIT, sellers_agreement
from .clock import parse_iso, timestamp_param
from .errors import ApiError
from .operation import AGREEMENT, Answer, Operation, Request
from .world import World

CENT = Decimal("0.01")
# the model's BillingAdjustmentStatus of an adjustment AWS took and then failed (``billing_adjustments.fail``)
FAILED = "VALIDATION_FAILED"


def invoice_id(agreement_id: str, year: int, month: int) -> str:
    """A month's invoice of an agreement: digits, as AWS's examples' invoice ids are ("2028746221")."""
    digest = hashlib.sha256(f"{agreement_id}/{year:04d}-{month:02d}".encode()).hexdigest()
    return str(int(digest[:12], 16))[:10]


def amount_text(value: Decimal) -> str:
    return format(value.quantize(CENT), "f")


def refunds(adjustment: dict[str, Any]) -> bool:
    """Whether an adjustment takes its amount off its invoice: every one AWS took but one it failed."""
    return str(adjustment["status"]) != FAILED


def invoices(world: World, agreement_id: str) -> list[dict[str, Any]]:
    """The agreement's invoices, oldest first: id, billing period, amount, what may still be refunded."""
    totals: dict[tuple[int, int], Decimal] = {}
    for record in world.ledger:
        if record.get("agreement_id") != agreement_id:
            continue
        hour = parse_iso(str(record["hour"]))
        charge = Decimal(0) if record.get("free_trial") else Decimal(str(record["quantity"])) * Decimal(PRICE_PER_UNIT)
        totals[(hour.year, hour.month)] = totals.get((hour.year, hour.month), Decimal(0)) + charge
    found = []
    for (year, month), total in sorted(totals.items()):
        number = invoice_id(agreement_id, year, month)
        refunded = sum(
            (
                Decimal(str(a["adjustmentAmount"]))
                for a in world.billing_adjustments.values()
                if a["agreementId"] == agreement_id and a["originalInvoiceId"] == number and refunds(a)
            ),
            Decimal(0),
        )
        found.append(
            {
                "agreementId": agreement_id,
                "invoiceId": number,
                "pricingCurrencyAmount": {
                    "amount": amount_text(total),
                    "maxAdjustmentAmount": amount_text(max(Decimal(0), total - refunded)),
                    "currencyCode": CURRENCY,
                },
                "invoiceBillingPeriod": {"month": month, "year": year},
                # issued at the start of the next month
                "issuedTime": datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC),
                "invoiceType": "INVOICE",
            }
        )
    return found


def invoice_of(world: World, agreement_id: str, number: str) -> dict[str, Any] | None:
    return next((i for i in invoices(world, agreement_id) if i["invoiceId"] == number), None)


def _matching(found: Iterable[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    period = params.get("invoiceBillingPeriod")
    after, before = params.get("afterIssuedTime"), params.get("beforeIssuedTime")
    return [
        i
        for i in found
        if params.get("invoiceId") in (None, i["invoiceId"])
        and params.get("invoiceType") in (None, i["invoiceType"])
        and (
            period is None
            or (period["month"], period["year"])
            == (i["invoiceBillingPeriod"]["month"], i["invoiceBillingPeriod"]["year"])
        )
        and (after is None or i["issuedTime"] >= timestamp_param(after))
        and (before is None or i["issuedTime"] < timestamp_param(before))
    ]


def list_agreement_invoice_line_items(world: World, params: dict[str, Any]) -> dict[str, Any]:
    agreement_id = str(params["agreementId"])
    sellers_agreement(world, agreement_id, role="the proposer of")  # its checks
    if params.get("nextToken"):
        message = "nextToken is not valid"  # every invoice fits one page: the emulator never hands one out
        raise ApiError(
            "ValidationException",
            message,
            fields={"reason": "INVALID_NEXT_TOKEN", "fields": [{"name": "nextToken", "message": message}]},
        )
    return {"agreementInvoiceLineItemGroupSummaries": _matching(invoices(world, agreement_id), params)}


def _list(request: Request) -> Answer:
    result = list_agreement_invoice_line_items(request.world, request.params)
    return result, {"invoices": len(result["agreementInvoiceLineItemGroupSummaries"])}


LIST_AGREEMENT_INVOICE_LINE_ITEMS = Operation(
    AGREEMENT,
    "ListAgreementInvoiceLineItems",
    _list,
    {
        "ValidationException": "a model violation (with the model's `reason` and `fields`), or any nextToken",
        "AccessDeniedException": "a channel partner's agreement (`proposer_account_id` on subscribe): not the proposer",
        "ResourceNotFoundException": "no such agreement",
        "ThrottlingException": (
            "over config `operation_quotas.ListAgreementInvoiceLineItems` (unlimited by default); HTTP 429"
        ),
        "InternalServerException": "a random server fault (faults `internal_error_rate`)",
    },
)
