"""Record usage events: validate every event first, then store each exactly once (all or nothing on bad input)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from pydantic import ValidationError

from functions.clock import Clock
from functions.customers.model import Customer, CustomerRef, CustomerRepository, SubscriptionState, final_usage_cutoff
from functions.settings import Settings
from functions.usage.model import HOUR, Allocation, UsageEvent, hour_of, late_billing_hour
from functions.usage.schema import UsageBatchIn, UsageEventIn

# How far ahead of our clock an event may be stamped (producers' clocks drift), and how far back Marketplace
# still accepts a record (its 24-hour window).
FUTURE_SKEW = timedelta(minutes=5)
METERING_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class FieldError:
    field: str  # e.g. "events[3].quantity"
    message: str


class UsageRejected(Exception):
    """The batch was refused and nothing of it stored; ``errors`` names each bad field."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = tuple(errors)


class UsageStore(Protocol):
    def add(self, events: Sequence[UsageEvent]) -> list[bool]:
        """Store each event unless its id is already stored for its hour; True where it was new."""
        ...


@dataclass(frozen=True)
class IngestResult:
    accepted: tuple[str, ...]
    duplicates: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": len(self.accepted),
            "duplicates": len(self.duplicates),
            "results": [{"event_id": e, "status": "accepted"} for e in self.accepted]
            + [{"event_id": e, "status": "duplicate"} for e in self.duplicates],
        }


def field_path(location: Sequence[int | str]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def parse_batch(body: Mapping[str, Any]) -> UsageBatchIn:
    try:
        return UsageBatchIn.model_validate(body)
    except ValidationError as error:
        raise UsageRejected(
            [
                FieldError(field_path([p for p in e["loc"] if not _is_union_branch(p)]) or "body", e["msg"])
                for e in error.errors()
            ]
        ) from None


def _is_union_branch(part: int | str) -> bool:
    # pydantic names the branch of ``int | str`` it tried ("constrained-int", "str"): not a field of the caller's
    return isinstance(part, str) and (part in {"str", "int"} or part.startswith(("constrained-", "function-")))


def record_usage(
    events: Sequence[Mapping[str, Any] | UsageEventIn],
    *,
    settings: Settings,
    customers: CustomerRepository,
    store: UsageStore,
    clock: Clock,
) -> IngestResult:
    """Validate then store ``events``; raises UsageRejected (storing nothing) if any event is invalid."""
    batch = parse_batch({"events": [e.model_dump() if isinstance(e, UsageEventIn) else e for e in events]})
    return ingest(batch, settings=settings, customers=customers, store=store, clock=clock)


def ingest(
    batch: UsageBatchIn, *, settings: Settings, customers: CustomerRepository, store: UsageStore, clock: Clock
) -> IngestResult:
    now = clock.now()
    accepted = validate(batch, settings=settings, customers=customers, now=now)
    # an event's identity is its id within its hour (the stored key); a repeat inside one batch is a duplicate too
    unique: dict[tuple[str, datetime], UsageEvent] = {}
    repeats: list[str] = []
    for event in accepted:
        if (event.event_id, event.hour) in unique:
            repeats.append(event.event_id)
        else:
            unique[(event.event_id, event.hour)] = event
    new = store.add(list(unique.values()))
    fresh = [e.event_id for e, is_new in zip(unique.values(), new, strict=True) if is_new]
    seen = [e.event_id for e, is_new in zip(unique.values(), new, strict=True) if not is_new]
    return IngestResult(accepted=tuple(fresh), duplicates=(*seen, *repeats))


def validate(
    batch: UsageBatchIn, *, settings: Settings, customers: CustomerRepository, now: datetime
) -> list[UsageEvent]:
    errors: list[FieldError] = []
    found = _look_up_customers(batch.events, customers)
    events: list[UsageEvent] = []
    grace = timedelta(seconds=settings.flush_grace_seconds)
    for index, raw in enumerate(batch.events):
        problems, event = _validate_event(raw, f"events[{index}]", settings, customers, found, now, grace)
        errors.extend(problems)
        if event is not None:
            events.append(event)
    if errors:
        raise UsageRejected(errors)
    return events


def _validate_event(
    raw: UsageEventIn,
    path: str,
    settings: Settings,
    customers: CustomerRepository,
    found: dict[CustomerRef, Customer | None],
    now: datetime,
    grace: timedelta,
) -> tuple[list[FieldError], UsageEvent | None]:
    product = settings.product(raw.product_code)
    if product is None:
        return [FieldError(f"{path}.product_code", f"unknown product {raw.product_code!r}")], None
    errors: list[FieldError] = []
    dimension = product.dimension(raw.dimension)
    if dimension is None:
        known = ", ".join(d.name for d in product.dimensions)
        errors.append(FieldError(f"{path}.dimension", f"unknown dimension {raw.dimension!r} (known: {known})"))
    integer = dimension is not None and dimension.quantity_type == "integer"
    quantity = _quantity(raw.quantity, integer, f"{path}.quantity", errors)
    allocations = _allocations(raw, quantity, integer, path, errors)
    timestamp = raw.timestamp or now
    if timestamp > now + FUTURE_SKEW:
        errors.append(FieldError(f"{path}.timestamp", "is in the future"))
    elif timestamp < now - METERING_WINDOW:
        errors.append(FieldError(f"{path}.timestamp", "is older than the 24-hour metering window"))
    customer = _customer(raw, product.customer_mode, path, customers, found, errors, now, settings)
    if errors or customer is None or quantity is None:
        return errors, None
    late_hour = late_billing_hour(hour_of(timestamp), now, grace)
    if customer.state is SubscriptionState.ENDING:
        cutoff = _cutoff(customer, settings)
        if (late_hour or hour_of(timestamp)) > hour_of(cutoff):
            # its hour is sent after the buyer's final usage, when Marketplace takes no more
            return [
                FieldError(f"{path}.timestamp", f"is after this subscription's final hour ({cutoff.isoformat()})")
            ], None
    elif customer.final_usage_cutoff is not None and now >= customer.final_usage_cutoff:
        late_hour = after_final_usage(late_hour, hour_of(timestamp), customer.final_usage_cutoff)
    return [], UsageEvent(
        event_id=raw.event_id,
        product_code=product.code,
        customer_key=customer.ref.key,
        customer_aws_account_id=customer.customer_aws_account_id,
        dimension=raw.dimension,
        quantity=quantity,
        timestamp=timestamp,
        received_at=now,
        license_arn=customer.ref.license_arn,
        customer_identifier=customer.ref.customer_identifier,
        allocations=allocations,
        late_billing_hour=late_hour,
    )


def _cutoff(customer: Customer, settings: Settings) -> datetime:
    after = timedelta(seconds=settings.final_usage_cutoff_seconds)
    return final_usage_cutoff(customer.state_changed_at, customer.final_usage_cutoff, after)


def after_final_usage(late_hour: datetime | None, event_hour: datetime, cutoff: datetime) -> datetime | None:
    """The billing hour of an event of a customer whose final usage may have been sent at ``cutoff`` and who is
    subscribed again (a renewal that Marketplace announced late).

    The hours up to the cutoff's may have been sent early for this customer, and a second record for one of them
    would be a DuplicateRecord: usage arriving later is billed in the hour after the cutoff's, or later if it is
    late anyway.
    """
    billing = late_hour or event_hour
    if billing > hour_of(cutoff):
        return late_hour
    return hour_of(cutoff) + HOUR


def _quantity(value: int | str, integer: bool, path: str, errors: list[FieldError]) -> Decimal | None:
    quantity = Decimal(value)
    if integer and quantity != quantity.to_integral_value():
        errors.append(FieldError(path, "this dimension counts whole units: send an integer"))
        return None
    return quantity


def _allocations(
    raw: UsageEventIn, quantity: Decimal | None, integer: bool, path: str, errors: list[FieldError]
) -> tuple[Allocation, ...]:
    if not raw.allocations:
        return ()
    allocations: list[Allocation] = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    for index, allocation in enumerate(raw.allocations):
        tags = tuple(sorted(allocation.tags.items()))
        if tags in seen:
            errors.append(FieldError(f"{path}.allocations[{index}].tags", "repeats another allocation's tag set"))
        seen.add(tags)
        amount = _quantity(allocation.quantity, integer, f"{path}.allocations[{index}].quantity", errors)
        if amount is not None:
            allocations.append(Allocation(tags=tags, quantity=amount))
    if quantity is not None and len(allocations) == len(raw.allocations):
        total = sum((a.quantity for a in allocations), Decimal(0))
        if total != quantity:
            errors.append(FieldError(f"{path}.allocations", f"quantities add up to {total}, not to {quantity}"))
    return tuple(allocations)


_NOT_METERABLE = {
    SubscriptionState.PENDING: "subscription not confirmed yet (pending): AWS Marketplace would not bill this usage",
    SubscriptionState.FAILED: "subscription failed (subscribe-fail): this buyer may not be metered",
    SubscriptionState.ENDED: "subscription ended: AWS Marketplace no longer accepts usage for this customer",
}


def _look_up_customers(
    events: Sequence[UsageEventIn], customers: CustomerRepository
) -> dict[CustomerRef, Customer | None]:
    """Every customer a batch names, read together: a read per customer would dominate a batch's latency."""
    refs = set()
    for raw in events:
        try:
            refs.add(
                CustomerRef(raw.product_code, license_arn=raw.license_arn, customer_identifier=raw.customer_identifier)
            )
        except ValueError:
            continue  # named both ways or not at all: validation reports it
    return customers.get_many(refs) if refs else {}


def _customer(
    raw: UsageEventIn,
    mode: str,
    path: str,
    customers: CustomerRepository,
    found: dict[CustomerRef, Customer | None],
    errors: list[FieldError],
    now: datetime,
    settings: Settings,
) -> Customer | None:
    if mode == "license" and raw.license_arn is None:
        errors.append(FieldError(f"{path}.license_arn", "this product names customers by licence: send license_arn"))
        return None
    if mode == "legacy" and raw.customer_identifier is None:
        errors.append(FieldError(f"{path}.customer_identifier", "this product names customers by customer_identifier"))
        return None
    ref = CustomerRef(raw.product_code, license_arn=raw.license_arn, customer_identifier=raw.customer_identifier)
    if ref not in found:
        found[ref] = customers.get(ref)
    customer = found[ref]
    naming = f"{path}.license_arn" if raw.license_arn is not None else f"{path}.customer_identifier"
    if customer is None or customer.ref.product_code != raw.product_code:
        errors.append(FieldError(naming, "unknown customer for this product"))
        return None
    if raw.customer_aws_account_id is not None and raw.customer_aws_account_id != customer.customer_aws_account_id:
        errors.append(FieldError(f"{path}.customer_aws_account_id", "does not hold this licence"))
        return None
    if not customer.meterable:
        errors.append(FieldError(naming, _NOT_METERABLE[customer.state]))
        return None
    if customer.state is SubscriptionState.ENDING and now > (cutoff := _cutoff(customer, settings)):
        # a 200 means billed: what arrives after the cutoff could not be sent before Marketplace stops taking it
        errors.append(FieldError(naming, f"subscription ended: its final usage was taken until {cutoff.isoformat()}"))
        return None
    return customer
