"""What the operator asks about: customers, usage and metering per hour, parked records; names checked first."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from functions.clock import Clock
from functions.customers.model import Customer, CustomerRef
from functions.customers.notices import AgreementNotice
from functions.customers.subjects import BuyerLifecycle
from functions.flush.aggregate import aggregate
from functions.flush.audit import CarryReader, TrailReader, UnreadableSink
from functions.flush.records import MeteringEntry, RetentionFloor
from functions.flush.service import UsageReader, closed
from functions.settings import Settings
from functions.usage.model import HOUR, hour_of
from operations.arguments import shown
from operations.metering_view import PARKED_STATUSES


class UnknownName(ValueError):
    """The operator named something that does not exist; the message says what and lists what does."""

    def __init__(self, kind: str, name: str, known: list[str] | None = None) -> None:
        message = f"unknown {kind}: {shown(name)}"
        if known is not None:
            listed = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "")
            message += f" (known: {listed})" if known else f" (no {kind} known)"
        super().__init__(message)
        self.kind = kind
        self.name = name


class CustomerLister(Protocol):
    def list_all(self) -> Iterator[Customer]: ...


class CustomerDirectory(CustomerLister, Protocol):
    def lifecycle(self, customer: Customer) -> BuyerLifecycle: ...

    def of_tenant(self, tenant_id: str) -> list[Customer]: ...

    def set_tenant(self, ref: CustomerRef, tenant_id: str, *, replace: bool = False) -> bool:
        """True if the link changed; TenantConflict if linked to another tenant; ConditionFailed if no customer."""
        ...


class MeteringView(CarryReader, Protocol):
    """The ledger as the operator reads it, with the usage carried between hours (over one record's maximum, or a
    leaving buyer's placed in their earlier hours)."""

    def next_hour_to_seal(self) -> datetime | None: ...

    def retention_floor(self) -> RetentionFloor:
        """How long the hours' usage and records are surely kept, as the flush recorded it."""
        ...

    def records_of_hour(self, hour: datetime) -> Iterator[MeteringEntry]: ...

    def sealed_in_dry_run(self, hour: datetime) -> bool:
        """The hour was sealed in dry run (``functions.flush.records.MeteringLedger.seal``)."""
        ...

    def modes_kept_since(self) -> datetime | None:
        """From which hour an hour not sealed in dry run was sealed live (``ReconciliationMark.modes_kept_since``)."""
        ...

    def pending_count(self) -> int: ...

    def requeue(self, entry: MeteringEntry) -> bool: ...


# CloudTrail's event history where AWS received the metering, read through a reader that reports what it cannot read
# to the sink it is given (the command counts and shows it)
TrailSource = Callable[[UnreadableSink], TrailReader]


class NoticeReader(Protocol):
    """What AWS said of each agreement besides its lifecycle (``functions.customers.notices``)."""

    def with_notices(self) -> list[tuple[Customer, list[AgreementNotice]]]:
        """Every customer with the newest notices of the agreements linked to them, newest first."""
        ...

    def notices(self) -> list[AgreementNotice]:
        """Every agreement's newest notices, a registered buyer's or not, newest first."""
        ...


@dataclass(frozen=True)
class OperationsDeps:
    settings: Settings
    customers: CustomerDirectory
    usage: UsageReader
    metering: MeteringView
    clock: Clock
    notices: NoticeReader | None = None  # None: the views show no notices


def customer_notices(deps: OperationsDeps) -> tuple[dict[str, list[AgreementNotice]], list[AgreementNotice]]:
    """The notices of each customer's agreements (by customer key), and those of agreements no customer is linked to
    (a test agreement never registered, a buyer still to register)."""
    if deps.notices is None:
        return {}, []
    of_customer = {customer.ref.key: found for customer, found in deps.notices.with_notices()}
    linked = {(n.agreement_id, n.key) for found in of_customer.values() for n in found}
    unlinked = [n for n in deps.notices.notices() if (n.agreement_id, n.key) not in linked]
    return of_customer, unlinked


@dataclass(frozen=True)
class MeteringRegion:
    """One Region's metering as the operator reads it (cdk.json ``regions``: a stack each, its own usage and metering
    tables, buyers from the customers table's replica there): its tables, and CloudTrail's event history there."""

    deps: OperationsDeps
    trail: TrailSource | None = None

    @property
    def name(self) -> str:
        return self.deps.settings.region


@dataclass(frozen=True)
class Selection:
    """Hours ``since`` .. ``until`` (both included, as hour starts); None matches everything."""

    since: datetime
    until: datetime
    products: frozenset[str] | None = None
    customer_keys: frozenset[str] | None = None
    dimension: str | None = None

    def hours(self) -> Iterator[datetime]:
        hour = self.since
        while hour <= self.until:
            yield hour
            hour += HOUR

    def matches(self, entry: MeteringEntry) -> bool:
        record = entry.record
        return (
            (self.products is None or record.product_code in self.products)
            and (self.customer_keys is None or record.customer_key in self.customer_keys)
            and (self.dimension is None or record.dimension == self.dimension)
        )


def _order(entry: MeteringEntry) -> tuple[str, str, str, str]:
    record = entry.record
    return (record.product_code, record.customer_aws_account_id, record.customer_key, record.dimension)


def customer_names(customer: Customer) -> set[str]:
    """Every name an operator may use for a customer: licence ARN (a legacy product's buyer's too: our events name them
    by it), AWS account id, legacy identifier, our key."""
    names = {customer.ref.key, customer.customer_aws_account_id}
    given = (customer.ref.license_arn, customer.legacy_license_arn, customer.ref.customer_identifier)
    names |= {n for n in given if n}
    return names


def named_customers(
    deps: OperationsDeps, listed: Iterable[Customer], customer: str, product: str | None = None
) -> list[Customer]:
    """The customers of ``listed`` that ``customer`` names (see ``customer_names``), of ``product`` if given, in a
    stable order; UnknownName when none."""
    if product is not None and deps.settings.product(product) is None:
        raise UnknownName("product", product, sorted(p.code for p in deps.settings.products))
    candidates = [c for c in listed if product is None or c.ref.product_code == product]
    chosen = [c for c in candidates if customer in customer_names(c)]
    if not chosen:
        raise UnknownName("customer", customer, sorted({c.customer_aws_account_id for c in candidates}))
    return sorted(chosen, key=lambda c: (c.ref.product_code, c.ref.key))


def select(
    deps: OperationsDeps,
    *,
    since: datetime,
    until: datetime,
    product: str | None = None,
    customer: str | None = None,
    dimension: str | None = None,
) -> Selection:
    """The operator's filters, every name checked: UnknownName for a product, customer or dimension we do not know."""
    products = {p.code: p for p in deps.settings.products}
    if product is not None and product not in products:
        raise UnknownName("product", product, sorted(products))
    chosen = [products[product]] if product else list(products.values())
    if dimension is not None:
        known = sorted({d.name for p in chosen for d in p.dimensions})
        if dimension not in known:
            raise UnknownName("dimension", dimension, known)
    customer_keys = None
    if customer is not None:
        candidates = [c for c in deps.customers.list_all() if product is None or c.ref.product_code == product]
        customer_keys = frozenset(c.ref.key for c in candidates if customer in customer_names(c))
        if not customer_keys:
            raise UnknownName("customer", customer, sorted({c.customer_aws_account_id for c in candidates}))
    return Selection(
        since=hour_of(since),
        until=hour_of(until),
        products=frozenset([product]) if product else None,
        customer_keys=customer_keys,
        dimension=dimension,
    )


def customers(deps: OperationsDeps, product: str | None = None, tenant: str | None = None) -> list[Customer]:
    """Every customer, or those of ``product``, or those the seller linked to ``tenant``."""
    if product is not None and deps.settings.product(product) is None:
        raise UnknownName("product", product, sorted(p.code for p in deps.settings.products))
    listed = deps.customers.of_tenant(tenant) if tenant is not None else deps.customers.list_all()
    found = [c for c in listed if product is None or c.ref.product_code == product]
    return sorted(found, key=lambda c: (c.ref.product_code, c.customer_aws_account_id, c.ref.key))


def usage(deps: OperationsDeps, selection: Selection) -> list[MeteringEntry]:
    """Per hour, customer and dimension: sealed hours as the ledger holds them (with Marketplace's answer), later
    hours as the flush would total them now (``open`` while the hour takes usage, ``unsealed`` once closed)."""
    now = deps.clock.now()
    grace = timedelta(seconds=deps.settings.flush_grace_seconds)
    next_to_seal = deps.metering.next_hour_to_seal()
    entries: list[MeteringEntry] = []
    for hour in selection.hours():
        if hour > now:
            break
        if next_to_seal is not None and hour < next_to_seal:
            found = list(deps.metering.records_of_hour(hour))
        else:
            events = [*deps.usage.events_of_hour(hour), *deps.usage.late_events_billed_in(hour)]
            status = "unsealed" if closed(hour, now, grace) else "open"
            found = [MeteringEntry(r, status) for r in aggregate(hour, events, deps.settings.products)]
        entries += sorted((e for e in found if selection.matches(e)), key=_order)
    return entries


def parked(deps: OperationsDeps, selection: Selection) -> list[MeteringEntry]:
    """Records the flush parked (refused by Marketplace or unsendable), oldest hour first."""
    next_to_seal = deps.metering.next_hour_to_seal()
    if next_to_seal is None:
        return []
    return [
        entry
        for hour in selection.hours()
        if hour < next_to_seal
        for entry in sorted(deps.metering.records_of_hour(hour), key=_order)
        if entry.status in PARKED_STATUSES and selection.matches(entry)
    ]
