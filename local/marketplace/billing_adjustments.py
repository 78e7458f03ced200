"""BatchCreateBillingAdjustmentRequest (AWS Marketplace Agreement Service): the seller refunds part of an invoice.

Each entry is answered on its own: an item (``ba-<hex>``) for each one taken, an error (the model's
``BillingAdjustmentErrorCode``) for each one not. An entry's ``clientToken`` makes it idempotent: the same entry again
answers the same item and refunds nothing more; the token with another entry is a ``CONFLICT_EXCEPTION``. No entry
may refund more than its invoice's ``maxAdjustmentAmount`` (``invoices``) still allows. A taken entry is processed at
once: its ``Purchase Agreement Billing Adjustment Completed - Proposer`` event is sent in the shape of the seller
guide's example. README.md ("BatchCreateBillingAdjustmentRequest") gives the sources and the emulator's choices.
"""

from __future__ import annotations

import hashlib
import uuid
from decimal import Decimal
from typing import Any

from .clock import iso
from .invoices import invoice_of
from .operation import AGREEMENT, Answer, Operation, Request
from .world import World


def _fingerprint(entry: dict[str, Any]) -> str:
    fields = ("agreementId", "originalInvoiceId", "adjustmentAmount", "currencyCode", "adjustmentReasonCode")
    return hashlib.sha256("\0".join(str(entry.get(f, "")) for f in fields).encode()).hexdigest()


def _error(entry: dict[str, Any], code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "clientToken": entry["clientToken"]}


def take(world: World, entry: dict[str, Any], now_iso: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the adjustment taken, or None; its error, or None); a new adjustment is marked ``new``."""
    token = str(entry["clientToken"])
    for existing in world.billing_adjustments.values():
        if existing["clientToken"] == token:
            if existing["fingerprint"] != _fingerprint(entry):
                return None, _error(entry, "CONFLICT_EXCEPTION", f"clientToken {token} was used for another entry")
            return {**existing, "new": False}, None
    agreement_id = str(entry["agreementId"])
    sub = world.subscriptions.get(agreement_id)
    seller = str(world.config["seller_account_id"])
    if sub is None or sub.proposer_account_id not in (None, seller):
        return None, _error(entry, "RESOURCE_NOT_FOUND_EXCEPTION", f"Agreement {agreement_id} not found")
    invoice = invoice_of(world, agreement_id, str(entry["originalInvoiceId"]))
    if invoice is None:
        message = f"Invoice {entry['originalInvoiceId']} not found for agreement {agreement_id}"
        return None, _error(entry, "RESOURCE_NOT_FOUND_EXCEPTION", message)
    money = invoice["pricingCurrencyAmount"]
    if entry["currencyCode"] != money["currencyCode"]:
        return None, _error(entry, "VALIDATION_EXCEPTION", f"the invoice is in {money['currencyCode']}")
    amount = Decimal(str(entry["adjustmentAmount"]))
    if amount <= 0:
        return None, _error(entry, "VALIDATION_EXCEPTION", "adjustmentAmount must be more than 0")
    if amount > Decimal(money["maxAdjustmentAmount"]):
        message = f"adjustmentAmount {amount} exceeds the invoice's maxAdjustmentAmount {money['maxAdjustmentAmount']}"
        return None, _error(entry, "VALIDATION_EXCEPTION", message)
    adjustment = {
        "billingAdjustmentRequestId": "ba-" + uuid.uuid4().hex[:20],
        "clientToken": token,
        "agreementId": agreement_id,
        "originalInvoiceId": str(entry["originalInvoiceId"]),
        "adjustmentAmount": str(entry["adjustmentAmount"]),
        "currencyCode": str(entry["currencyCode"]),
        "adjustmentReasonCode": str(entry["adjustmentReasonCode"]),
        "status": "COMPLETED",
        "createdAt": now_iso,
        "fingerprint": _fingerprint(entry),
    }
    world.billing_adjustments[adjustment["billingAdjustmentRequestId"]] = adjustment
    return {**adjustment, "new": True}, None


def _batch(request: Request) -> Answer:
    items, errors = [], []
    for entry in request.params["billingAdjustmentRequestEntries"]:
        taken, error = take(request.world, entry, iso(request.now))
        if error is not None:
            errors.append(error)
            continue
        assert taken is not None
        items.append(
            {"billingAdjustmentRequestId": taken["billingAdjustmentRequestId"], "clientToken": taken["clientToken"]}
        )
        if taken["new"]:  # a retried entry sends no second event
            request.emit("billing_adjustment", request.world.subscriptions[taken["agreementId"]], adjustment=taken)
    return {"items": items, "errors": errors}, {"items": len(items), "errors": [e["code"] for e in errors]}


BATCH_CREATE_BILLING_ADJUSTMENT_REQUEST = Operation(
    AGREEMENT,
    "BatchCreateBillingAdjustmentRequest",
    _batch,
    {
        "ValidationException": "a model violation (with the model's `reason` and `fields`); per entry, in `errors[]`: "
        "VALIDATION_EXCEPTION (over maxAdjustmentAmount, another currency, nothing to refund), "
        "RESOURCE_NOT_FOUND_EXCEPTION (no such agreement or invoice), CONFLICT_EXCEPTION (a clientToken reused)",
        "AccessDeniedException": "signed by another account than the seller (config `access_key_accounts`)",
        "ConflictException": "never as a whole: a reused clientToken is its entry's CONFLICT_EXCEPTION",
        "ThrottlingException": (
            "over config `operation_quotas.BatchCreateBillingAdjustmentRequest` (unlimited by default); HTTP 429"
        ),
        "InternalServerException": "a random server fault (faults `internal_error_rate`)",
    },
)
