"""How signed values name a customer: exactly as we keep them, by one of licence or identifier."""

from __future__ import annotations

from typing import Any

from functions.customers.model import CustomerRef


class UnknownCustomer(LookupError):
    pass


def ref_claims(ref: CustomerRef) -> dict[str, str | None]:
    """The customer exactly as we keep it: by one of licence or identifier, whatever ResolveCustomer returned."""
    return {
        "product_code": ref.product_code,
        "license_arn": ref.license_arn,
        "customer_identifier": ref.customer_identifier,
    }


def claimed_ref(claims: dict[str, Any]) -> CustomerRef:
    """The customer signed claims name (ValueError or KeyError if they name none, or two)."""
    return CustomerRef(
        product_code=str(claims["product_code"]),
        license_arn=claims.get("license_arn"),
        customer_identifier=claims.get("customer_identifier"),
    )
