"""A month of metering, in the figures a seller looks at: totals, units per hour per dimension, accepted against
billed per day, top customers by estimated charge, and the reconciliation's mismatches (``report_html`` draws it)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from functions.customers.notices import AgreementNotice, NoticeKind
from functions.flush.audit import Unreadable
from functions.settings import Settings
from functions.usage.model import HOUR
from operations.arguments import shown
from operations.estimates import price_of
from operations.queries import MeteringRegion, Selection
from operations.reconcile import ReconciledRow, reconcile_regions

TOP_CUSTOMERS = 10


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """``YYYY-MM`` as its first hour and the first hour of the next month; ValueError naming the format."""
    try:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
        following = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    except (ValueError, OverflowError):  # 9999-12 has no following month a datetime can hold
        raise ValueError(f"--month: {shown(month)} is not a month such as 2026-11") from None
    return start, following


@dataclass(frozen=True)
class DimensionTotal:
    product_code: str
    dimension: str
    accepted: Decimal  # units our usage API accepted
    billed: Decimal  # units of the records Marketplace accepted
    records_billed: int
    cloudtrail: Decimal  # units CloudTrail shows AWS billed for our records
    price: Decimal | None
    currency: str | None

    @property
    def estimated(self) -> Decimal | None:
        return None if self.price is None else self.billed * self.price


@dataclass(frozen=True)
class CustomerCharge:
    product_code: str
    customer_aws_account_id: str
    customer: str
    currency: str
    billed: Decimal  # at list price
    to_bill: Decimal  # usage not billed yet (open, unsealed or unsent), at list price

    @property
    def total(self) -> Decimal:
        return self.billed + self.to_bill


@dataclass
class MonthReport:
    month: str
    start: datetime
    end: datetime  # the last hour shown
    generated_at: datetime
    cloudtrail_checked: bool
    dimensions: list[DimensionTotal]
    # (product, dimension) -> units accepted per hour, one value per hour from start to end
    hourly: dict[tuple[str, str], list[Decimal]]
    # (product, dimension) -> day -> (accepted, billed)
    daily: dict[tuple[str, str], dict[str, tuple[Decimal, Decimal]]]
    top_customers: list[CustomerCharge]
    mismatches: list[ReconciledRow]
    # the seller's refunds AWS processed (or failed) this month: Billing Adjustment Completed / Failed, as kept
    refunds: list[AgreementNotice] = field(default_factory=list)
    estimated_billed: dict[str, Decimal] = field(default_factory=dict)  # currency -> amount
    estimated_to_bill: dict[str, Decimal] = field(default_factory=dict)
    unreadable: tuple[Unreadable, ...] = ()  # CloudTrail's results that could not be read, so were not checked
    regions: tuple[str, ...] = ()  # the Regions read

    @property
    def hours(self) -> int:
        return int((self.end - self.start) / HOUR) + 1


def _billed(row: ReconciledRow) -> Decimal:
    return row.sealed if row.status == "sent" and row.sealed is not None else Decimal(0)


def _to_bill(row: ReconciledRow) -> Decimal:
    if row.status in ("open", "unsealed"):
        return row.accepted or Decimal(0)
    if row.status == "pending" and row.sealed is not None:
        return row.sealed
    return Decimal(0)


def build(regions: Sequence[MeteringRegion], month: str) -> MonthReport:
    """The month in every Region that meters (``regions``, the main stack's first)."""
    deps = regions[0].deps
    start, following = month_bounds(month)
    now = deps.clock.now()
    last = min(following - HOUR, now.replace(minute=0, second=0, microsecond=0))
    if last < start:
        raise ValueError(f"--month: {month} has not started yet")
    kept = deps.settings.audit_retention_days
    if last < now - timedelta(days=kept):
        raise ValueError(f"--month: {month} ended more than the {kept} days ago that usage and records are kept")
    reconciled = reconcile_regions(regions, Selection(since=start, until=last))
    rows = [r for r in reconciled.rows if r.product_code]  # results no record of ours accounts for: mismatches only
    report = _summarise(deps.settings, month, start, last, now, rows)
    report.cloudtrail_checked = reconciled.cloudtrail_checked
    report.mismatches = reconciled.mismatches
    report.unreadable = reconciled.unreadable
    report.regions = reconciled.regions
    if deps.notices is not None:
        report.refunds = [
            n for n in deps.notices.notices() if n.kind is NoticeKind.BILLING_ADJUSTMENT and start <= n.at < following
        ]
    return report


def _summarise(
    settings: Settings,
    month: str,
    start: datetime,
    last: datetime,
    now: datetime,
    rows: list[ReconciledRow],
) -> MonthReport:
    hours = int((last - start) / HOUR) + 1
    keys = sorted({(p.code, d.name) for p in settings.products for d in p.dimensions})
    hourly = {key: [Decimal(0)] * hours for key in keys}
    daily: dict[tuple[str, str], dict[str, tuple[Decimal, Decimal]]] = {key: {} for key in keys}
    totals: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 4)
    charges: dict[tuple[str, str, str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row in rows:
        key = (row.product_code, row.dimension)
        accepted, billed = row.accepted or Decimal(0), _billed(row)
        index = int((row.hour - start) / HOUR)
        hourly.setdefault(key, [Decimal(0)] * hours)[index] += accepted
        day = row.hour.strftime("%Y-%m-%d")
        before = daily.setdefault(key, {}).get(day, (Decimal(0), Decimal(0)))
        daily[key][day] = (before[0] + accepted, before[1] + billed)
        total = totals[key]
        total[0] += accepted
        total[1] += billed
        if row.status == "sent":
            total[2] += 1
            total[3] += row.cloudtrail or Decimal(0)
        priced = price_of(settings, row.product_code, row.dimension)
        if priced is not None:
            price, currency = priced
            owed = charges[(row.product_code, row.customer_aws_account_id, row.customer, currency)]
            owed[0] += billed * price
            owed[1] += _to_bill(row) * price
    dimensions = []
    for product_code, dimension in keys:
        total = totals[(product_code, dimension)]
        priced = price_of(settings, product_code, dimension)
        dimensions.append(
            DimensionTotal(
                product_code,
                dimension,
                accepted=total[0],
                billed=total[1],
                records_billed=int(total[2]),
                cloudtrail=total[3],
                price=priced[0] if priced else None,
                currency=priced[1] if priced else None,
            )
        )
    customers = [
        CustomerCharge(product, account, customer, currency, billed, to_bill)
        for (product, account, customer, currency), (billed, to_bill) in charges.items()
    ]
    customers.sort(key=lambda c: (-c.total, c.customer_aws_account_id, c.currency))
    estimated_billed: dict[str, Decimal] = defaultdict(Decimal)
    estimated_to_bill: dict[str, Decimal] = defaultdict(Decimal)
    for charge in customers:
        estimated_billed[charge.currency] += charge.billed
        estimated_to_bill[charge.currency] += charge.to_bill
    return MonthReport(
        month=month,
        start=start,
        end=last,
        generated_at=now,
        cloudtrail_checked=False,
        dimensions=dimensions,
        hourly=hourly,
        daily=daily,
        top_customers=customers[:TOP_CUSTOMERS],
        mismatches=[],
        estimated_billed=dict(estimated_billed),
        estimated_to_bill=dict(estimated_to_bill),
    )
