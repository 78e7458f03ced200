"""BatchCreateBillingAdjustmentRequest (AWS Marketplace Agreement Service): the seller refunds part of an invoice.

Each entry is answered on its own: an item (``ba-<hex>``) for each one taken, an error (the model's
``BillingAdjustmentErrorCode``) for each one not. An entry's ``clientToken`` makes it idempotent: the same entry again
answers the same item and refunds nothing more; the token with another entry is a ``CONFLICT_EXCEPTION``. No entry
may refund more than its invoice's ``maxAdjustmentAmount`` (``invoices``) still allows. A taken entry is processed at
once: its ``Purchase Agreement Billing Adjustment Completed - Proposer`` event is sent in the shape of the seller
guide's example. AWS may yet fail one it took (:func:`fail`, the admin API's): it is then ``VALIDATION_FAILED``,
refunds nothing, and its ``Failed - Proposer`` event is sent. GetBillingAdjustmentRequest and
ListBillingAdjustmentRequests read them back (what a seller asks when an answer was lost). README.md
("BatchCreateBillingAdjustmentRequest") gives the sources and the emulator's choices.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from decimal import Decimal
from typing import Any

from .agreement_terms import page_offset, page_token, sellers_agreement
from .clock import iso, parse_iso, timestamp_param
from .errors import AdminError, ApiError
from .invoices import FAILED, invoice_of
from .operation import AGREEMENT, Answer, Operation, Request
from .world import World

# what a listed adjustment's agreement is: the API reference's examples of the filters ("e.g., PurchaseAgreement",
# "e.g., AWSMarketplace"); every agreement the emulator makes is a Marketplace purchase agreement
AGREEMENT_TYPE = "PurchaseAgreement"
CATALOG = "AWSMarketplace"
MAX_PAGE_SIZE = 50  # maxResults' largest value in the model
COMPLETED = "COMPLETED"
# GetBillingAdjustmentRequest's statusMessage of a failed adjustment ("populated only when the status is
# VALIDATION_FAILED", the model says); AWS documents none of its texts, so the emulator's unless the admin gives one
FAILED_MESSAGE = "The billing adjustment request failed validation."
STATUS_MESSAGE_MAX = 500  # BillingAdjustmentStatusMessage's max length in the model


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
    request_id = "ba-" + uuid.uuid4().hex[:20]
    adjustment = {
        "billingAdjustmentRequestId": request_id,
        "clientToken": token,
        "agreementId": agreement_id,
        "originalInvoiceId": str(entry["originalInvoiceId"]),
        "adjustmentAmount": str(entry["adjustmentAmount"]),
        "currencyCode": str(entry["currencyCode"]),
        "adjustmentReasonCode": str(entry["adjustmentReasonCode"]),
        "description": entry.get("description"),
        "status": COMPLETED,
        "createdAt": now_iso,
        "updatedAt": now_iso,
        "fingerprint": _fingerprint(entry),
    }
    world.billing_adjustments[request_id] = adjustment
    return {**adjustment, "new": True}, None


def fail(world: World, request_id: str, now_iso: str, message: str) -> dict[str, Any]:
    """AWS fails an adjustment it took: ``VALIDATION_FAILED`` with ``message``, updated now. It refunds nothing, so
    the invoice's ``maxAdjustmentAmount`` (``invoices``) has its amount back. Unknown: 404; failed already: 409."""
    adjustment = world.billing_adjustments.get(request_id)
    if adjustment is None:
        raise AdminError(f"no billing adjustment request {request_id}", 404)
    if adjustment["status"] == FAILED:
        raise AdminError(f"billing adjustment request {request_id} is {FAILED} already", 409)
    adjustment.update(status=FAILED, statusMessage=message, updatedAt=now_iso)
    return adjustment


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


def _shown(adjustment: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The adjustment as the API answers it: kept as text in the state file, its times answered as timestamps."""
    shown = {key: adjustment[key] for key in keys if adjustment.get(key) is not None}
    created = parse_iso(str(adjustment["createdAt"]))
    # an adjustment kept before updatedAt was: processed at once, so updated when it was made
    updated = parse_iso(str(adjustment["updatedAt"])) if adjustment.get("updatedAt") else created
    return {**shown, "createdAt": created, "updatedAt": updated}


_DETAIL = (
    "billingAdjustmentRequestId",
    "agreementId",
    "adjustmentReasonCode",
    "description",
    "originalInvoiceId",
    "adjustmentAmount",
    "currencyCode",
    "status",
    "statusMessage",
)
_SUMMARY = (
    "billingAdjustmentRequestId",
    "originalInvoiceId",
    "adjustmentAmount",
    "currencyCode",
    "status",
    "agreementId",
)


def _get(request: Request) -> Answer:
    agreement_id = str(request.params["agreementId"])
    sellers_agreement(request.world, agreement_id, role="the proposer of")
    request_id = str(request.params["billingAdjustmentRequestId"])
    adjustment = request.world.billing_adjustments.get(request_id)
    if adjustment is None or adjustment["agreementId"] != agreement_id:
        raise ApiError(
            "ResourceNotFoundException",
            f"Billing adjustment request {request_id} not found for agreement {agreement_id}",
            fields={"resourceId": request_id, "resourceType": "BillingAdjustmentRequest"},
        )
    return _shown(adjustment, _DETAIL), {"agreement_id": agreement_id, "status": adjustment["status"]}


def _query(params: dict[str, Any]) -> str:
    """What a page token belongs to: the filters it was handed out with (another query's token is refused)."""
    filters = ("agreementId", "status", "createdAfter", "createdBefore", "catalog", "agreementType")
    return json.dumps([str(params.get(f)) for f in filters])


def _matches(adjustment: dict[str, Any], params: dict[str, Any]) -> bool:
    created = parse_iso(str(adjustment["createdAt"]))
    after, before = params.get("createdAfter"), params.get("createdBefore")
    return (
        params.get("agreementId") in (None, adjustment["agreementId"])
        and params.get("status") in (None, adjustment["status"])
        and params.get("catalog") in (None, CATALOG)
        and params.get("agreementType") in (None, AGREEMENT_TYPE)
        and (after is None or created >= timestamp_param(after))
        and (before is None or created < timestamp_param(before))
    )


def _list(request: Request) -> Answer:
    params = request.params
    agreement = request.world.subscriptions.get(str(params.get("agreementId")))
    if agreement is not None:  # an agreement the emulator does not know has no adjustments (the model lists no
        sellers_agreement(request.world, agreement.agreement_id, role="the proposer of")  # ResourceNotFound here)
    seller = str(request.world.config["seller_account_id"])
    mine = [
        a
        for a in request.world.billing_adjustments.values()
        if (sub := request.world.subscriptions.get(a["agreementId"])) is not None
        and sub.proposer_account_id in (None, seller)
    ]
    found = sorted(
        (a for a in mine if _matches(a, params)), key=lambda a: (a["createdAt"], a["billingAdjustmentRequestId"])
    )
    token = params.get("nextToken")
    offset = page_offset(str(token), _query(params), "this query") if token else 0
    size = int(params.get("maxResults") or MAX_PAGE_SIZE)
    page = found[offset : offset + size]
    items = [_shown(a, _SUMMARY) | {"agreementType": AGREEMENT_TYPE, "catalog": CATALOG} for a in page]
    answer: dict[str, Any] = {"items": items}
    if offset + size < len(found):
        answer["nextToken"] = page_token(offset + size, _query(params))
    return answer, {"items": len(items)}


_READ_ERRORS = {
    "ValidationException": (
        "a model violation (with the model's `reason` and `fields`), or a nextToken of another query"
    ),
    "AccessDeniedException": "a channel partner's agreement (`proposer_account_id` on subscribe): not the proposer",
    "ThrottlingException": "over config `operation_quotas.<operation>` (unlimited by default); HTTP 429",
    "InternalServerException": "a random server fault (faults `internal_error_rate`)",
}

GET_BILLING_ADJUSTMENT_REQUEST = Operation(
    AGREEMENT,
    "GetBillingAdjustmentRequest",
    _get,
    {
        **_READ_ERRORS,
        "ResourceNotFoundException": "no such agreement, or no such adjustment of it (`resourceType` "
        "`BillingAdjustmentRequest`)",
    },
)
LIST_BILLING_ADJUSTMENT_REQUESTS = Operation(
    AGREEMENT,
    "ListBillingAdjustmentRequests",
    _list,
    _READ_ERRORS,
)
