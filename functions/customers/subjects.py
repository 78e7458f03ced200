"""The names a buyer's lifecycle times are kept under: the ones Marketplace's notifications use for them.

Kept apart from the notification models so that reading a customer (every handler does) imports no parser.
"""

from __future__ import annotations

import re

_LICENCE_ID = re.compile(r"(l-[0-9A-Za-z]+)$")


def agreement_subject(agreement_id: str) -> str:
    return f"AGMT#{agreement_id}"


def licence_subject(licence_id: str) -> str:
    return f"LIC#{licence_id}"


def legacy_subject(product_code: str, customer_identifier: str) -> str:
    return f"LEGACY#{product_code}#{customer_identifier}"


def licence_id(license_arn: str | None) -> str | None:
    """``l-...`` of a licence ARN, with or without its ``arn:`` prefix."""
    match = _LICENCE_ID.search(license_arn or "")
    return match.group(1) if match else None
