"""GetAgreementTerms (AWS Marketplace Agreement Service): the terms a buyer accepted in one of the emulator's
agreements, each an ``AcceptedTerm`` of botocore's ``marketplace-agreement`` model (a union: one kind per item).

What an agreement holds follows its subscription: a ``legalTerm`` (the standard contract), the product's pricing
term (``usageBasedPricingTerm`` for pay-as-you-go, ``configurableUpfrontPricingTerm`` for contracts, over the
product's dimensions), a ``validityTerm`` (start and end as the agreement's EventBridge events give them) and,
exactly when the subscription is a free trial, a ``freeTrialPricingTerm``. README.md ("GetAgreementTerms") says where
each shape and value comes from and what the emulator chose.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime
from typing import Any

from .errors import ApiError
from .eventbridge import agreement_end, agreement_start
from .model_validation import Violation, summary
from .operation import AGREEMENT, Answer, Operation, Request
from .world import Product, Subscription, World

# maxResults' largest value in the model; a smaller ``agreement_terms_page_size`` in the config caps every page
MAX_PAGE_SIZE = 50
CURRENCY = "USD"
# The emulator's products carry no prices: every dimension is listed at this rate per unit.
PRICE_PER_UNIT = "0.01"
# SaaS free trials last 7 to 90 days (seller guide, "Creating a SaaS free trial offer"); the emulator's last 30.
FREE_TRIAL_DURATION = "P30D"
# The model's own documented defaults for a configurable upfront rate card's constraints.
ALLOWED = "Allowed"


def _term_id(sub: Subscription, kind: str) -> str:
    # "The ID of the particular term, which is common between offer and agreement" (API reference): per offer
    return "term-" + hashlib.sha256(f"{sub.offer_id}/{kind}".encode()).hexdigest()[:24]


def _days(start: datetime, end: datetime) -> str:
    return f"P{(end - start).days}D"


def _rate_card(product: Product) -> list[dict[str, str]]:
    return [{"dimensionKey": name, "price": PRICE_PER_UNIT} for name in product.dimensions]


def _purchased_units(sub: Subscription, product: Product) -> list[dict[str, Any]]:
    """A contract's configured dimensions: its entitlements' whole quantities (one unit where the value is not one)."""
    units = [
        {"dimensionKey": str(e["dimension"]), "dimensionValue": max(0, int(e["value"].get("IntegerValue", 1)))}
        for e in sub.entitlements
    ]
    return units or [{"dimensionKey": name, "dimensionValue": 1} for name in product.dimensions]


def accepted_terms(sub: Subscription, product: Product) -> list[dict[str, Any]]:
    """Every term of the agreement, in the order the emulator lists them (the free trial, where there is one, last:
    a client must page to the end to know there is none)."""
    start, end = agreement_start(sub), agreement_end(sub, product)
    duration = _days(start, end)
    terms: list[dict[str, Any]] = [
        {"legalTerm": {"type": "LegalTerm", "id": _term_id(sub, "legal"), "documents": [{"type": "StandardEula"}]}}
    ]
    if product.pricing == "contract":
        units = _purchased_units(sub, product)
        terms.append(
            {
                "configurableUpfrontPricingTerm": {
                    "type": "ConfigurableUpfrontPricingTerm",
                    "id": _term_id(sub, "pricing"),
                    "currencyCode": CURRENCY,
                    "rateCards": [
                        {
                            "selector": {"type": "Duration", "value": duration},
                            "constraints": {"multipleDimensionSelection": ALLOWED, "quantityConfiguration": ALLOWED},
                            "rateCard": _rate_card(product),
                        }
                    ],
                    "configuration": {"selectorValue": duration, "dimensions": units},
                }
            }
        )
        # a contract trial may cap each dimension; a subscription trial cannot change them (seller guide)
        grants = [{"dimensionKey": u["dimensionKey"], "maxQuantity": max(1, u["dimensionValue"])} for u in units]
    else:
        terms.append(
            {
                "usageBasedPricingTerm": {
                    "type": "UsageBasedPricingTerm",
                    "id": _term_id(sub, "pricing"),
                    "currencyCode": CURRENCY,
                    "rateCards": [{"rateCard": _rate_card(product)}],
                }
            }
        )
        grants = [{"dimensionKey": name} for name in product.dimensions]  # no maxQuantity: unlimited (the model)
    terms.append(
        {
            "validityTerm": {
                "type": "ValidityTerm",
                "id": _term_id(sub, "validity"),
                "agreementDuration": duration,
                "agreementStartDate": start,
                "agreementEndDate": end,
            }
        }
    )
    if sub.free_trial:
        terms.append(
            {
                "freeTrialPricingTerm": {
                    "type": "FreeTrialPricingTerm",
                    "id": _term_id(sub, "free-trial"),
                    "duration": FREE_TRIAL_DURATION,
                    "grants": grants,
                }
            }
        )
    return terms


def _owner_key(owner: str) -> str:
    return hashlib.sha256(owner.encode()).hexdigest()[:16]


def page_token(offset: int, owner: str) -> str:
    """A ``nextToken`` for the page from ``offset`` of what ``owner`` names (an agreement, a query's filters)."""
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "a": _owner_key(owner)}).encode()).decode()


def invalid(reason: str, field: str, message: str) -> ApiError:
    return ApiError(
        "ValidationException", message, fields={"reason": reason, "fields": [{"name": field, "message": message}]}
    )


def page_offset(token: str, owner: str, whose: str) -> int:
    """Where ``token`` (``page_token``'s) starts; ValidationException if it is not one, or another ``owner``'s."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset, owned_by = int(data["o"]), str(data["a"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise invalid("INVALID_NEXT_TOKEN", "nextToken", "nextToken is not valid") from None
    if owned_by != _owner_key(owner) or offset < 0:
        raise invalid("INVALID_NEXT_TOKEN", "nextToken", f"nextToken does not belong to {whose}")
    return offset


def validation_error(violations: list[Violation]) -> ApiError:
    """Model violations as the Agreement Service answers them: ValidationException with its modelled ``reason`` and
    ``fields`` (SerializationException where the body is not of the modelled types)."""
    typed = [v for v in violations if v.kind == "type"]
    if typed:
        return ApiError("SerializationException", f"Cannot deserialize value at '{typed[0].path}': {typed[0].message}")
    first = violations[0]
    reasons = {
        "agreementId": "INVALID_AGREEMENT_ID",
        "maxResults": "INVALID_MAX_RESULTS",
        "nextToken": "INVALID_NEXT_TOKEN",
    }
    reason = reasons.get(first.path, "OTHER")
    if first.path == "agreementId" and first.value is None:
        reason = "MISSING_AGREEMENT_ID"
    fields = [{"name": v.path, "message": v.message} for v in violations if v.kind == "constraint"]
    return ApiError("ValidationException", summary(violations), fields={"reason": reason, "fields": fields})


def sellers_agreement(world: World, agreement_id: str, *, role: str = "a party to") -> Subscription:
    """The agreement the Agreement Service's operations act on, if the seller may: ResourceNotFoundException where
    there is none; AccessDeniedException where a channel partner proposed it. The API answers "an agreement that you
    participated in as proposer or acceptor" (API reference), and the seller, its manufacturer, is neither; ``role``
    is what the answer says the seller is not (the operations that only a proposer may call: "the proposer of")."""
    sub = world.subscriptions.get(agreement_id)
    if sub is None:
        raise ApiError(
            "ResourceNotFoundException",
            f"Agreement {agreement_id} not found",
            fields={"resourceId": agreement_id, "resourceType": "Agreement"},
        )
    if sub.proposer_account_id not in (None, str(world.config["seller_account_id"])):
        raise ApiError("AccessDeniedException", f"You are not {role} agreement {agreement_id}")
    return sub


def get_agreement_terms(world: World, params: dict[str, Any]) -> dict[str, Any]:
    agreement_id = str(params["agreementId"])
    sub = sellers_agreement(world, agreement_id)
    terms = accepted_terms(sub, world.products[sub.product_code])
    offset = page_offset(str(params["nextToken"]), agreement_id, "this agreement") if params.get("nextToken") else 0
    size = int(params.get("maxResults") or MAX_PAGE_SIZE)
    cap = int(world.config.get("agreement_terms_page_size") or 0)
    if cap:
        size = min(size, cap)
    result: dict[str, Any] = {"acceptedTerms": terms[offset : offset + size]}
    if offset + size < len(terms):
        result["nextToken"] = page_token(offset + size, agreement_id)
    return result


def _get_agreement_terms(request: Request) -> Answer:
    result = get_agreement_terms(request.world, request.params)
    return result, {"terms": len(result["acceptedTerms"])}


GET_AGREEMENT_TERMS = Operation(
    AGREEMENT,
    "GetAgreementTerms",
    _get_agreement_terms,
    {
        "ValidationException": (
            "a model violation (with the model's `reason` and `fields`), or a nextToken of another agreement"
        ),
        "AccessDeniedException": "a channel partner's agreement (`proposer_account_id` on subscribe)",
        "ResourceNotFoundException": "no such agreement",
        "ThrottlingException": "over config `operation_quotas.GetAgreementTerms` (unlimited by default); HTTP 429",
        "InternalServerException": "a random server fault (faults `internal_error_rate`)",
    },
)
