"""GetAgreementEntitlements (AWS Marketplace Agreement Service): an agreement's entitlement, its licence and where its
provisioning stands, in botocore's ``marketplace-agreement`` model's ``AgreementEntitlement`` shape.

A SaaS agreement grants one product: one entitlement, its ``licenseArn`` the licence ResolveCustomer names, its
``status`` following the subscription (README.md, "GetAgreementEntitlements", says what the emulator chose where the
API reference gives no values).
"""

from __future__ import annotations

from typing import Any

from .agreement_terms import sellers_agreement
from .clock import parse_iso
from .errors import ApiError
from .operation import AGREEMENT, Answer, Operation, Request
from .world import Subscription, World

# the product resource's type as the Catalog API names a SaaS product
SAAS_PRODUCT = "SaaSProduct"
# subscription status -> (entitlement status, its reason code or None)
STATUS = {
    "pending": ("PENDING", "PROVISIONING_IN_PROGRESS"),
    "active": ("PROVISIONED", None),
    "unsubscribe_pending": ("PROVISIONED", None),  # metered until finalized: still provisioned
    "ended": ("DEPROVISIONED", "AGREEMENT_INACTIVE"),
    "replaced": ("DEPROVISIONED", "AGREEMENT_INACTIVE"),
    "failed": ("FAILED", "INVALID_PAYMENT_INSTRUMENT"),
}


def entitlement(world: World, sub: Subscription, now_iso: str) -> dict[str, Any]:
    status, reason = STATUS[sub.status]
    found: dict[str, Any] = {
        "resource": {"id": world.products[sub.product_code].id, "type": SAAS_PRODUCT},
        "status": status,
    }
    if reason is not None:
        found["statusReasonCode"] = reason
    # the newest registration token still valid, while the buyer may still register
    live = [
        t
        for t in world.tokens.values()
        if t.agreement_id == sub.agreement_id and parse_iso(t.expires_at) > parse_iso(now_iso)
    ]
    if live and status in ("PENDING", "PROVISIONED"):
        found["registrationToken"] = live[-1].token
    found["licenseArn"] = sub.license_arn
    return found


def get_agreement_entitlements(world: World, params: dict[str, Any], now_iso: str) -> dict[str, Any]:
    agreement_id = str(params["agreementId"])
    sub = sellers_agreement(world, agreement_id)
    if params.get("nextToken"):
        # one entitlement per agreement: the emulator never hands out a nextToken
        message = "nextToken is not valid"
        raise ApiError(
            "ValidationException",
            message,
            fields={"reason": "INVALID_NEXT_TOKEN", "fields": [{"name": "nextToken", "message": message}]},
        )
    return {"agreementEntitlements": [entitlement(world, sub, now_iso)]}


def _get_agreement_entitlements(request: Request) -> Answer:
    result = get_agreement_entitlements(request.world, request.params, request.now.isoformat())
    return result, {"statuses": [e["status"] for e in result["agreementEntitlements"]]}


GET_AGREEMENT_ENTITLEMENTS = Operation(
    AGREEMENT,
    "GetAgreementEntitlements",
    _get_agreement_entitlements,
    {
        "ValidationException": "a model violation (with the model's `reason` and `fields`), or any nextToken",
        "AccessDeniedException": "a channel partner's agreement (`proposer_account_id` on subscribe)",
        "ResourceNotFoundException": "no such agreement",
        "ThrottlingException": (
            "over config `operation_quotas.GetAgreementEntitlements` (unlimited by default); HTTP 429"
        ),
        "InternalServerException": "a random server fault (faults `internal_error_rate`)",
    },
)
