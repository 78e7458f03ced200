"""GetEntitlements: filtering, and paging that behaves like AWS's (including empty pages with a token)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from . import metering
from .clock import iso, parse_iso
from .errors import ApiError
from .model_validation import Violation
from .operation import ENTITLEMENT, Answer, Operation, Request
from .world import METERABLE_STATUSES, Product, Subscription, World

DEFAULT_PAGE_SIZE = 25
_VALUE_KEYS = ("IntegerValue", "DoubleValue", "BooleanValue", "StringValue")


def normalize_entitlement(raw: dict[str, Any]) -> dict[str, Any]:
    """Accept admin input as {"dimension", "value": 10 | 1.5 | true | "x" | {"IntegerValue": 10}, ...}."""
    if not isinstance(raw, dict) or not raw.get("dimension"):
        raise ValueError("each entitlement needs a dimension")
    value = raw.get("value", 1)
    if isinstance(value, dict):
        if len(value) != 1 or next(iter(value)) not in _VALUE_KEYS:
            raise ValueError(f"value must have exactly one of {', '.join(_VALUE_KEYS)}")
        typed = dict(value)
    elif isinstance(value, bool):
        typed = {"BooleanValue": value}
    elif isinstance(value, int):
        typed = {"IntegerValue": value}
    elif isinstance(value, float):
        typed = {"DoubleValue": value}
    elif isinstance(value, str):
        typed = {"StringValue": value}
    else:
        raise ValueError("value must be a number, boolean, string or a typed value object")
    expiration = raw.get("expiration_date")
    if expiration is not None:
        expiration = iso(parse_iso(str(expiration)))
    return {"dimension": str(raw["dimension"]), "value": typed, "expiration_date": expiration}


def default_entitlements(product: Product, start: datetime) -> list[dict[str, Any]]:
    """A contract bought without explicit terms: one unit of every dimension for a year."""
    if product.pricing != "contract":
        return []
    expires = iso(start + timedelta(days=365))
    return [{"dimension": d, "value": {"IntegerValue": 1}, "expiration_date": expires} for d in product.dimensions]


def _rows(world: World, product: Product) -> list[tuple[Subscription, dict[str, Any]]]:
    subs = sorted(
        (s for s in world.subscriptions.values() if s.product_code == product.code and s.status in METERABLE_STATUSES),
        key=lambda s: (s.created_at, s.agreement_id),
    )
    return [(sub, ent) for sub in subs for ent in sub.entitlements]


def _matches(sub: Subscription, ent: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    checks = {
        "CUSTOMER_IDENTIFIER": sub.customer_identifier,
        "CUSTOMER_AWS_ACCOUNT_ID": sub.account_id,
        "LICENSE_ARN": sub.license_arn,
        "DIMENSION": ent["dimension"],
    }
    # Values of one filter are unioned; different filters are intersected (API reference).
    return all(checks[name] in values for name, values in filters.items())


def _query_hash(product_code: str, filters: dict[str, list[str]]) -> str:
    canonical = json.dumps([product_code, sorted((k, sorted(v)) for k, v in filters.items())])
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _encode_token(offset: int, page: int, query: str) -> str:
    raw = json.dumps({"o": offset, "p": page, "q": query}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str, query: str) -> tuple[int, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset, page, owner = int(data["o"]), int(data["p"]), str(data["q"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ApiError("InvalidParameterException", "NextToken is not valid") from exc
    if owner != query or offset < 0 or page < 0:
        raise ApiError("InvalidParameterException", "NextToken does not belong to this request")
    return offset, page


def _entitlement_shape(product: Product, sub: Subscription, ent: dict[str, Any]) -> dict[str, Any]:
    shaped: dict[str, Any] = {
        "ProductCode": product.code,
        "Dimension": ent["dimension"],
        "Value": dict(ent["value"]),
        "CustomerAWSAccountId": sub.account_id,
    }
    if product.customer_mode == "legacy":
        shaped["CustomerIdentifier"] = sub.customer_identifier
    else:
        shaped["LicenseArn"] = sub.license_arn
    if ent.get("expiration_date"):
        shaped["ExpirationDate"] = parse_iso(ent["expiration_date"])
    return shaped


def get_entitlements(world: World, params: dict[str, Any], empty_page: Callable[[], bool]) -> dict[str, Any]:
    product = world.products.get(params["ProductCode"])
    if product is None:
        raise ApiError("InvalidParameterException", f"Product code {params['ProductCode']} is not valid")
    filters: dict[str, list[str]] = {k: list(v) for k, v in (params.get("Filter") or {}).items()}
    if "CUSTOMER_IDENTIFIER" in filters and "CUSTOMER_AWS_ACCOUNT_ID" in filters:
        raise ApiError(
            "InvalidParameterException",
            "CUSTOMER_IDENTIFIER and CUSTOMER_AWS_ACCOUNT_ID filters are mutually exclusive",
        )
    query = _query_hash(product.code, filters)
    offset, page = (0, 0)
    if params.get("NextToken"):
        offset, page = _decode_token(str(params["NextToken"]), query)
    size = int(params.get("MaxResults") or DEFAULT_PAGE_SIZE)
    rows = [row for row in _rows(world, product) if _matches(row[0], row[1], filters)]
    every = int(world.config.get("entitlement_empty_page_every") or 0)
    scheduled_empty = every > 0 and (page + 1) % every == 0
    if offset < len(rows) and (scheduled_empty or empty_page()):
        return {"Entitlements": [], "NextToken": _encode_token(offset, page + 1, query)}
    chunk = rows[offset : offset + size]
    result: dict[str, Any] = {"Entitlements": [_entitlement_shape(product, s, e) for s, e in chunk]}
    if offset + size < len(rows):
        result["NextToken"] = _encode_token(offset + size, page + 1, query)
    return result


def validation_error(violations: list[Violation]) -> ApiError:
    """The Entitlement Service answers every bad parameter InvalidParameterException (its model has no other), with
    the message the metering front end gives."""
    return ApiError("InvalidParameterException", metering.validation_error(violations).message)


def _get_entitlements(request: Request) -> Answer:
    result = get_entitlements(request.world, request.params, lambda: request.roll("empty_page_rate"))
    return result, {"entitlements": len(result["Entitlements"])}


GET_ENTITLEMENTS = Operation(
    ENTITLEMENT,
    "GetEntitlements",
    _get_entitlements,
    {
        "InvalidParameterException": (
            "a model violation, a ProductCode that names no product, both CUSTOMER_IDENTIFIER and "
            "CUSTOMER_AWS_ACCOUNT_ID filters, or a NextToken of another query"
        ),
        "ThrottlingException": "over config `operation_quotas.GetEntitlements` (unlimited by default)",
        "InternalServiceErrorException": "a random server fault (faults `internal_error_rate`)",
    },
)
