"""Estimated charges from the list prices the seller put in cdk.json (each dimension's ``price`` per unit and
``currency``): an estimate only, labelled so wherever it is shown. Private offers, discounts, free trials and
Marketplace's fees are not known here: what AWS pays out is in the seller reports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from functions.flush.records import MeteringEntry
from functions.settings import Settings

LABEL = "Estimated charges at list prices (cdk.json): private offers, discounts and trials differ; not what AWS pays"
# billed: Marketplace accepted the record; pending: usage that is still to be sent (open, unsealed or unsent hours)
BILLED_STATUSES = frozenset({"sent"})
PENDING_STATUSES = frozenset({"open", "unsealed", "pending"})


def price_of(settings: Settings, product_code: str, dimension: str) -> tuple[Decimal, str] | None:
    """The dimension's list price per unit and its currency; None when the seller set none."""
    product = settings.product(product_code)
    found = product.dimension(dimension) if product is not None else None
    if found is None or found.unit_price is None:
        return None
    return found.unit_price, found.currency


def charge(settings: Settings, entry: MeteringEntry) -> tuple[Decimal, str] | None:
    priced = price_of(settings, entry.record.product_code, entry.record.dimension)
    if priced is None:
        return None
    price, currency = priced
    return entry.record.quantity * price, currency


def money(amount: Decimal) -> str:
    """Cents, half up (as an invoice rounds)."""
    return format(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), "f")


def row_fields(settings: Settings, entry: MeteringEntry) -> dict[str, Any]:
    """A usage row's estimate: its quantity at the list price (None without a price)."""
    found = charge(settings, entry)
    if found is None:
        return {"estimated_charge": None, "currency": None}
    return {"estimated_charge": money(found[0]), "currency": found[1]}


@dataclass(frozen=True)
class MonthlyEstimate:
    month: str  # YYYY-MM
    product_code: str
    customer_aws_account_id: str
    customer: str
    currency: str
    billed_units: Decimal
    billed: Decimal  # records Marketplace accepted, at list price
    pending: Decimal  # usage still to be sent, at list price


def monthly(settings: Settings, entries: Iterable[MeteringEntry]) -> list[MonthlyEstimate]:
    """Per customer, month and currency: what was billed and what is still to be sent, at list prices. Parked records
    (never billed) and dry-run ones count in neither."""
    totals: dict[tuple[str, str, str, str, str], list[Decimal]] = {}
    for entry in entries:
        found = charge(settings, entry)
        billed, pending = entry.status in BILLED_STATUSES, entry.status in PENDING_STATUSES
        if found is None or not (billed or pending):
            continue
        record = entry.record
        key = (
            record.hour.strftime("%Y-%m"),
            record.product_code,
            record.customer_aws_account_id,
            record.customer,
            found[1],
        )
        sums = totals.setdefault(key, [Decimal(0), Decimal(0), Decimal(0)])
        if billed:
            sums[0] += record.quantity
            sums[1] += found[0]
        else:
            sums[2] += found[0]
    return [
        MonthlyEstimate(month, product, account, customer, currency, units, billed, pending)
        for (month, product, account, customer, currency), (units, billed, pending) in sorted(totals.items())
    ]


def monthly_rows(estimates: Iterable[MonthlyEstimate]) -> list[dict[str, Any]]:
    return [
        {
            "month": e.month,
            "product": e.product_code,
            "account": e.customer_aws_account_id,
            "customer": e.customer,
            "currency": e.currency,
            "estimated_billed": money(e.billed),
            "estimated_pending": money(e.pending),
        }
        for e in estimates
    ]


MONTHLY_COLUMNS = [
    ("MONTH", "month"),
    ("PRODUCT", "product"),
    ("ACCOUNT", "account"),
    ("CURRENCY", "currency"),
    ("EST. BILLED", "estimated_billed"),
    ("EST. TO BILL", "estimated_pending"),
]
