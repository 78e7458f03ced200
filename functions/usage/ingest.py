"""Record usage events: validate every event first, then store each exactly once (all or nothing on bad input)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import ValidationError

from functions.clock import Clock
from functions.customers.model import (
    FUTURE_SKEW,
    IN_FLIGHT_MARGIN,
    Customer,
    CustomerRef,
    CustomerRepository,
    SubscriptionState,
    usage_taken_until,
)
from functions.settings import Settings
from functions.usage.model import (
    IDENTITY_LIFETIME,
    Allocation,
    UsageEvent,
    first_hour_after_final_usage,
    hour_of,
    late_billing_hour,
    resent_differently,
)
from functions.usage.once import Conflict, FirstSendInFlight, UsageStore, store_once
from functions.usage.schema import UsageBatchIn, UsageEventIn

# How far back Marketplace still accepts a record (its 24-hour window).
METERING_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class FieldError:
    """One field of a usage request that is wrong, and why."""

    field: str  # e.g. "events[3].quantity"
    message: str


# why a batch was refused: an event breaks a rule | an event lacks its timestamp | an event id was sent before with
# other content
Refusal = Literal["invalid", "malformed", "conflict"]


class UsageRejected(Exception):
    """The batch was refused and nothing of it stored; ``errors`` names each bad field, ``kind`` says why.
    ``duplicates``: events of it that an earlier request stored as they are (a resend after a lost answer): they count
    once, as stored, whatever this request was refused for."""

    def __init__(
        self,
        errors: Sequence[FieldError],
        kind: Refusal = "invalid",
        duplicates: Sequence[str] = (),
        alone: Sequence[tuple[UsageEventIn | None, str | None]] = (),
    ) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = tuple(errors)
        self.kind = kind
        self.duplicates = tuple(duplicates)
        # a batch the schema refused: each of its events as it parses alone (None where it does not), with its id
        self.alone = tuple(alone)


@dataclass(frozen=True)
class IngestResult:
    """The events of a batch accepted, and those sent before (duplicates)."""

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
        # a batch whose every event is invalid is also "too short" once they are dropped: that says nothing more
        items_invalid = any(e["loc"][:1] == ("events",) and len(e["loc"]) > 1 for e in error.errors())
        errors = [
            FieldError(field_path([p for p in e["loc"] if not _is_union_branch(p)]) or "body", e["msg"])
            for e in error.errors()
            if not (items_invalid and e["type"] == "too_short" and e["loc"] == ("events",))
        ]
        untimed = any(e["type"] == "missing" and e["loc"][-1:] == ("timestamp",) for e in error.errors())
        raise UsageRejected(errors, kind="malformed" if untimed else "invalid", alone=_alone(body)) from None


def _alone(body: Mapping[str, Any]) -> list[tuple[UsageEventIn | None, str | None]]:
    """Each event of a batch the schema refused, as it parses alone, and the id it was sent with."""
    events = body.get("events")
    if not isinstance(events, list):  # however many: the body's size bounds them (attack 42)
        return []
    alone: list[tuple[UsageEventIn | None, str | None]] = []
    for raw in events:
        sent_id = raw.get("event_id") if isinstance(raw, dict) else None
        try:
            parsed: UsageEventIn | None = UsageEventIn.model_validate(raw)
        except ValidationError:
            parsed = None
        alone.append((parsed, sent_id if isinstance(sent_id, str) else None))
    return alone


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
    body = {"events": [e.model_dump() if isinstance(e, UsageEventIn) else e for e in events]}
    return ingest_body(body, settings=settings, customers=customers, store=store, clock=clock)


def ingest_body(
    body: Mapping[str, Any], *, settings: Settings, customers: CustomerRepository, store: UsageStore, clock: Clock
) -> IngestResult:
    """``POST /usage``'s body parsed, then ingested. A body the schema refuses lists, as any refusal does, the events
    of it an earlier request stored as sent (attack 41: a resend beside a negative quantity hid them)."""
    try:
        batch = parse_batch(body)
    except UsageRejected as refusal:
        parsed = [(i, event) for i, (event, _) in enumerate(refusal.alone) if event is not None]
        if not parsed:
            raise
        found = stored_before(parsed, store, clock.now())
        duplicates = _listed([sent_id for _, sent_id in refusal.alone], found)
        raise UsageRejected(refusal.errors, kind=refusal.kind, duplicates=duplicates) from None
    return ingest(batch, settings=settings, customers=customers, store=store, clock=clock)


def ingest(
    batch: UsageBatchIn, *, settings: Settings, customers: CustomerRepository, store: UsageStore, clock: Clock
) -> IngestResult:
    now = clock.now()
    checked = check(batch, settings=settings, customers=customers, now=now)
    # a refused event that an earlier request stored as it is counts as stored: a resend after a lost answer is told
    # "duplicate" even once the buyer has left, so that a refusal always means "not billed"
    refused = {index for index, (problems, _) in enumerate(checked) if problems}
    before = stored_before([(i, batch.events[i]) for i in sorted(refused)], store, now) if refused else set()
    errors = [problem for index, (problems, _) in enumerate(checked) if index not in before for problem in problems]
    stored_earlier = [batch.events[i].event_id for i in sorted(before)]
    if errors:
        raise UsageRejected(errors, duplicates=_refusal_duplicates(batch, refused, before, store, now))
    # an event counts once per customer and id (its identity), whatever its timestamp; a repeat inside one batch is a
    # duplicate, or a conflict when its content differs
    unique: dict[tuple[str, str], tuple[int, UsageEvent]] = {}
    repeats: list[str] = []
    twice: list[FieldError] = []
    for index, (_, event) in enumerate(checked):
        if event is None:
            continue
        if (first := unique.get(event.identity)) is None:
            unique[event.identity] = (index, event)
        elif (field := resent_differently(first[1], event)) is not None:
            twice.append(_twice_in_batch(index, field, event.event_id, first[0]))
        else:
            repeats.append(event.event_id)
    if twice:  # within the batch: nothing was claimed
        duplicates = _refusal_duplicates(batch, refused, before, store, now)
        raise UsageRejected(twice, kind="conflict", duplicates=duplicates)
    stored = store_once(list(unique.values()), store, request=uuid.uuid4().hex, now=now)
    if stored.conflicts:  # with what was stored before: nothing of this batch was stored
        duplicates = _refusal_duplicates(batch, refused, before, store, now)
        raise UsageRejected([_conflict(c) for c in stored.conflicts], kind="conflict", duplicates=duplicates)
    return IngestResult(accepted=stored.accepted, duplicates=(*stored.duplicates, *repeats, *stored_earlier))


def _refusal_duplicates(
    batch: UsageBatchIn, refused: set[int], before: set[int], store: UsageStore, now: datetime
) -> list[str]:
    """The ids a refusal lists as stored: of the events an earlier request stored as they are (the refused ones found,
    ``before``, and the valid ones, which a refusal would otherwise leave their producer to think unstored), each id
    whose every event in the batch is one of them. A producer knows its events by id alone: an id that two buyers'
    events share, one of them not stored, is not listed (attack 40)."""
    valid = [(i, event) for i, event in enumerate(batch.events) if i not in refused]
    found = before | (stored_before(valid, store, now) if valid else set())
    return _listed([event.event_id for event in batch.events], found)


def _listed(ids: Sequence[str | None], found: set[int]) -> list[str]:
    """The ids of the ``found`` events (by index) whose every event in the batch is found."""
    unstored = {event_id for i, event_id in enumerate(ids) if i not in found}
    listed = (ids[i] for i in sorted(found))
    return list(dict.fromkeys(event_id for event_id in listed if event_id is not None and event_id not in unstored))


def stored_before(raws: Sequence[tuple[int, UsageEventIn]], store: UsageStore, now: datetime) -> set[int]:
    """Indexes of the events an earlier request stored exactly as they are sent now (and still counts once).
    FirstSendInFlight where such an event's first send may still be being written: whether it is stored is not known
    for another minute (attack 40: a refusal said nothing of it, and the write then landed and was billed)."""
    named: dict[tuple[str, str], list[tuple[int, UsageEventIn]]] = {}
    for index, raw in raws:
        try:
            ref = CustomerRef(
                raw.product_code, license_arn=raw.license_arn, customer_identifier=raw.customer_identifier
            )
        except ValueError:
            continue
        named.setdefault((ref.key, raw.event_id), []).append((index, raw))
    kept = store.kept(list(named))
    found = set()
    for identity, first in kept.items():
        same = [index for index, raw in named[identity] if _sent_as(raw, first)]
        if not same or first.billing_hour + IDENTITY_LIFETIME < now:
            continue
        if store.is_stored(first):
            found.update(same)
        elif now - first.received_at < IN_FLIGHT_MARGIN:
            raise FirstSendInFlight(first.event_id)
    return found


def _sent_as(raw: UsageEventIn, first: UsageEvent) -> bool:
    try:
        quantity = Decimal(raw.quantity)
    except ArithmeticError:
        return False
    allocations = sorted((tuple(sorted(a.tags.items())), Decimal(a.quantity)) for a in raw.allocations or ())
    # a licence's identity holds no product code, and its account is the buyer's: both compared (attack 40: a resend
    # naming an unknown product or another account was answered "duplicate", its errors dropped)
    account = raw.customer_aws_account_id
    return (
        raw.product_code == first.product_code
        and (account is None or account == first.customer_aws_account_id)
        and raw.dimension == first.dimension
        and quantity == first.quantity
        and hour_of(raw.timestamp) == first.hour
        and allocations == sorted((a.tags, a.quantity) for a in first.allocations)
    )


def _twice_in_batch(index: int, field: str, event_id: str, first: int) -> FieldError:
    return FieldError(
        f"events[{index}].{field}",
        f"event {event_id} is in this batch twice, with another {field} at events[{first}]: an event id counts once, "
        "and nothing of this batch was stored; send each event once, new usage under a new id",
    )


def _conflict(conflict: Conflict) -> FieldError:
    first = conflict.first
    was = {
        "dimension": first.dimension,
        "quantity": str(first.quantity),
        "timestamp": f"in the hour of {first.hour.isoformat()}",
        "allocations": "other allocations",
    }[conflict.field]
    return FieldError(
        f"events[{conflict.index}].{conflict.field}",
        f"event {conflict.event_id} was stored before with {conflict.field} {was}, and counts as stored: an event id"
        " counts once; send new usage under a new id",
    )


def check(
    batch: UsageBatchIn, *, settings: Settings, customers: CustomerRepository, now: datetime
) -> list[tuple[list[FieldError], UsageEvent | None]]:
    """Each event of the batch checked: its problems, or the event as it would be stored."""
    found = _look_up_customers(batch.events, customers)
    grace = timedelta(seconds=settings.flush_grace_seconds)
    return [
        _validate_event(raw, f"events[{index}]", settings, customers, found, now, grace)
        for index, raw in enumerate(batch.events)
    ]


def validate(
    batch: UsageBatchIn, *, settings: Settings, customers: CustomerRepository, now: datetime
) -> list[UsageEvent]:
    """Every event of the batch checked; UsageRejected naming each problem if any."""
    checked = check(batch, settings=settings, customers=customers, now=now)
    errors = [problem for problems, _ in checked for problem in problems]
    if errors:
        raise UsageRejected(errors)
    return [event for _, event in checked if event is not None]


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
    timestamp = raw.timestamp
    if timestamp > now + FUTURE_SKEW:
        errors.append(FieldError(f"{path}.timestamp", "is in the future"))
    elif timestamp < now - METERING_WINDOW:
        errors.append(FieldError(f"{path}.timestamp", "is older than the 24-hour metering window"))
    customer = _customer(raw, product.customer_mode, path, customers, found, errors, now, settings)
    if customer is not None and (problem := _before_subscription(customer, timestamp)):
        errors.append(FieldError(f"{path}.timestamp", problem))
    if errors or customer is None or quantity is None:
        return errors, None
    late_hour = late_billing_hour(hour_of(timestamp), now, grace)
    if customer.final_usage_sent is not None:
        # an earlier leave's final usage sent their hours up to it early: a buyer back since, leaving again or not, is
        # billed after it (one leaving again was billed in an hour already sent, never billed: attack 35)
        late_hour = after_final_usage(late_hour, hour_of(timestamp), customer.final_usage_sent)
    if customer.state is SubscriptionState.ENDING:
        cutoff = _cutoff(customer, settings)
        if (late_hour or hour_of(timestamp)) > hour_of(cutoff):
            # its hour is sent after the buyer's final usage, when Marketplace takes no more; or in an hour the final
            # usage sends only where its cutoff moved there (attack 73), too close to Marketplace's close for a leave
            # heard late, a retried step or an early end to spare (attack 77: taken, it was lost)
            problem = f"is after this subscription's final hour ({cutoff.isoformat()})"
            if late_hour is not None:  # stamped in an hour already closed: its timestamp is not what is too late
                problem += f": it came after its own hour closed, and would be billed in {late_hour.isoformat()}"
            return [FieldError(f"{path}.timestamp", problem)], None
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


def _before_subscription(customer: Customer, timestamp: datetime) -> str | None:
    """Why usage stamped ``timestamp`` is not the buyer's to pay, or None (the bound: ``Customer.usage_from``).
    BatchMeterUsage refuses usage outside the licence's activation period (InvalidLicenseException); in a later, open
    hour (a late event) it would be billed. Where AWS has not yet said when the subscription started (a leave heard
    before its Created: simulator seed 162; a legacy buyer back and leaving again before their subscribe-success comes:
    attack 74), usage before the first moment seen in it cannot be told theirs: refused until AWS says, then judged by
    the start it says. Usage stamped in an earlier subscription of theirs (a buyer back on their licence or identifier)
    is theirs, billed late; usage between their subscriptions, or before their first, is not (simulator invariant 8)."""
    usage_from = customer.usage_from
    if usage_from is None or timestamp >= usage_from or customer.subscribed_earlier_at(timestamp):
        return None
    started = customer.subscribed_at
    if started is not None:
        return f"is before this buyer's subscription started ({started.isoformat()}): it is not theirs"
    return _before_an_unheard_start(customer, timestamp, usage_from)


def _before_an_unheard_start(customer: Customer, timestamp: datetime, usage_from: datetime) -> str:
    """Why usage stamped before ``usage_from`` is refused where AWS has not said when the subscription started: not
    theirs at all (before they left the subscription before this one), or not to be told theirs yet (before
    the first moment seen in this one, less a producer's clock drift)."""
    after = customer.subscribed_after
    if after is not None and timestamp < after:
        return (
            f"is before this buyer's subscription started (after {after.isoformat()}, when they left the one before): "
            "it is not theirs"
        )
    seen = customer.first_seen_subscribed or usage_from
    if after is not None and seen == customer.subscribed_by:
        return (
            f"is before this buyer left ({seen.isoformat()}) the subscription they came back to after "
            f"{after.isoformat()}, and AWS Marketplace has not yet said when it started: it cannot be told theirs "
            "until it does"
        )
    return (
        f"is before this buyer registered ({seen.isoformat()}), and AWS Marketplace has not yet "
        "said when their subscription started: it cannot be told theirs"
    )


def _cutoff(customer: Customer, settings: Settings) -> datetime:
    """When a leaving buyer's usage stops being taken."""
    after = timedelta(seconds=settings.final_usage_cutoff_seconds)
    return usage_taken_until(customer.state_changed_at, customer.final_usage_cutoff, customer.final_usage_sent, after)


def after_final_usage(late_hour: datetime | None, event_hour: datetime, cutoff: datetime) -> datetime | None:
    """The billing hour of an event of a customer whose final usage may have been sent at ``cutoff`` and who is
    subscribed again (a renewal that Marketplace announced late).

    The hours up to the cutoff's may have been sent early for this customer, and a second record for one of them
    would be a DuplicateRecord: usage arriving later is billed in the hour after the cutoff's, or later if it is
    late anyway. (A later leave's final hour reaches that hour where it can: ``Lifecycle._set_cutoff``.)
    """
    first_unsent = first_hour_after_final_usage(cutoff)
    if (late_hour or event_hour) >= first_unsent:
        return late_hour
    return first_unsent


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
