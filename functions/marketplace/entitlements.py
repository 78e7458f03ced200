"""GetEntitlements: a customer's current entitlements, every page read; botocore's errors become the lifecycle's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.customers.model import Customer
from functions.lifecycle.entitlements import EntitlementsUnavailable

# A page may be empty and still carry a NextToken; a service that kept answering so would loop forever.
MAX_PAGES = 1000
PAGE_SIZE = 25


def _entitlement(raw: dict[str, Any]) -> dict[str, object]:
    value = raw.get("Value") or {}
    found: object = next(
        (value[k] for k in ("IntegerValue", "DoubleValue", "BooleanValue", "StringValue") if k in value), None
    )
    entitlement: dict[str, object] = {"dimension": raw.get("Dimension", ""), "value": found}
    expiration = raw.get("ExpirationDate")
    if isinstance(expiration, datetime):
        entitlement["expiration_date"] = expiration.astimezone(UTC).isoformat()
    return entitlement


class Boto3EntitlementReader:
    def __init__(self, client: Any) -> None:
        self._client = client

    def current(self, customer: Customer) -> tuple[dict[str, object], ...]:
        ref = customer.ref
        if ref.customer_identifier is not None:
            name, value = "CUSTOMER_IDENTIFIER", ref.customer_identifier
        else:
            name, value = "LICENSE_ARN", ref.license_arn or ""
        request: dict[str, Any] = {"ProductCode": ref.product_code, "Filter": {name: [value]}, "MaxResults": PAGE_SIZE}
        entitlements: list[dict[str, object]] = []
        for _ in range(MAX_PAGES):
            try:
                page = self._client.get_entitlements(**request)
            except (ClientError, BotoCoreError) as error:
                raise EntitlementsUnavailable(f"GetEntitlements failed: {error}") from error
            entitlements.extend(_entitlement(e) for e in page.get("Entitlements", []))
            token = page.get("NextToken")
            if not token:
                return tuple(sorted(entitlements, key=lambda e: str(e["dimension"])))
            request["NextToken"] = token
        raise EntitlementsUnavailable(f"GetEntitlements still paging after {MAX_PAGES} pages")
