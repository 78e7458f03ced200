"""What must hold in every world, checked as it runs (the ledger and Marketplace report a broken one the moment it
breaks) and once it has healed (``check``). The first broken invariant is what a failure reports.

1. Every unit the usage API accepted is in Marketplace's ledger exactly once, or parked with a reason a metric counts
   (never silently absent); nothing refused is ever billed; a 200 means billed as sent.
2. No record Marketplace has seen is ever sent again with a different quantity (``sim/marketplace.py``).
3. A sealed total never changes (``sim/ports.py``).
4. Every closed hour is reconciled, and its reconciliation finds no unexplained difference.
5. No buyer stays ``ending``; nobody is metered outside their subscription (before it started, after it ended).
And our code never crashes, and every invocation finishes.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

from functions.customers.model import CustomerRef, SubscriptionState
from functions.flush.audit import FAILED, PARKED, SETTLED_AFTER
from functions.flush.records import MeteringEntry
from functions.usage.model import HOUR, UsageEvent, hour_of
from sim.world import World

PARKED_STATUSES = frozenset({"failed", "not_subscribed", "duplicate"})


def check(world: World) -> None:
    """Add every broken end-of-world invariant to ``world.violations``."""
    stored = world.usage.inner.stored()
    _units(world, stored)
    _answers(world, stored)
    _windows(world, stored)
    _reconciled(world)
    _nobody_ending(world)


def _first_stored(stored: list[UsageEvent]) -> dict[tuple[str, str], UsageEvent]:
    """Each event id once per customer: the first version stored (what the producer's id stands for)."""
    first: dict[tuple[str, str], UsageEvent] = {}
    for event in sorted(stored, key=lambda e: e.received_at):
        first.setdefault((event.customer_key, event.event_id), event)
    return first


def _explained(world: World, entry: MeteringEntry) -> bool:
    """A record parked for a reason the world explains: out of Marketplace's window after an outage of the flush; a
    leaving buyer's, after Marketplace ended them, where faults kept their final usage from going out before (or a
    zero-quantity record: nothing to bill)."""
    if entry.status == "not_subscribed":
        return entry.record.quantity == 0 or world.observed.timer_failures[entry.record.customer_key] > 0
    return entry.status == "failed" and entry.reason == "TimestampOutOfBounds" and world.plan.outage is not None


def _units(world: World, stored: list[UsageEvent]) -> None:
    truth: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for event in _first_stored(stored).values():
        truth[(event.license_arn or event.customer_identifier or "", event.dimension)] += event.quantity
    billed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for (customer, dimension, _), first in world.marketplace.billed.items():
        billed[(customer, dimension)] += first.quantity
    parked: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    unsent = 0
    parked_records = 0
    for entry in world.ledger.stored():
        record = entry.record
        if entry.status in PARKED_STATUSES:
            parked[(record.customer, record.dimension)] += record.quantity
            parked_records += 1
            if not _explained(world, entry):
                world.violation(
                    "accepted usage is billed, or parked for a reason the world explains",
                    f"{record.key} of {record.hour:%Y-%m-%dT%H} ({record.quantity}): {entry.reason or entry.status}",
                )
        elif entry.status == "pending":
            unsent += 1
            world.violation(
                "everything due is sent", f"{record.key} of {record.hour:%Y-%m-%dT%H} still unsent at the end"
            )
    for key in sorted(set(truth) | set(billed) | set(parked)):
        accounted = billed[key] + parked[key]
        if billed[key] > truth[key]:
            world.violation(
                "every accepted unit is billed exactly once",
                f"{key[0][-12:]} {key[1]}: accepted {truth[key]}, billed {billed[key]}",
            )
        elif accounted != truth[key]:
            world.violation(
                "every accepted unit is billed exactly once, or parked",
                f"{key[0][-12:]} {key[1]}: accepted {truth[key]}, billed {billed[key]}, parked {parked[key]}",
            )
    failed_metric = world.observed.metrics["RecordsFailed"]
    if parked_records > failed_metric:
        world.violation(
            "a parked record is counted by a metric",
            f"{parked_records} records parked, RecordsFailed counted {failed_metric}",
        )


def _content_hour(timestamp: str | None) -> datetime | None:
    return hour_of(datetime.fromisoformat(timestamp.replace("Z", "+00:00"))) if timestamp else None


def _answers(world: World, stored: list[UsageEvent]) -> None:
    first = _first_stored(stored)
    by_licence = {e.license_arn: e.customer_key for e in stored if e.license_arn}
    for (licence, event_id), answers in sorted(world.observed.answers.items()):
        event = first.get((by_licence.get(licence, CustomerRef("x", license_arn=licence).key), event_id))
        oks = [a for a in answers if a.status in ("accepted", "duplicate")]
        if event is None:
            if oks:
                world.violation("a 200 means billed", f"{event_id}: answered {oks[0].status}, never stored")
            continue
        for answer in oks:
            dimension, quantity, timestamp = answer.content
            hour = _content_hour(timestamp)
            if (dimension, Decimal(quantity)) != (event.dimension, event.quantity) or (
                hour is not None and hour != event.hour
            ):
                world.violation(
                    "a 200 means billed as sent",
                    f"{event_id}: answered {answer.status} to {dimension}={quantity} at {timestamp}, "
                    f"billed as {event.dimension}={event.quantity} at {event.timestamp:%H:%M:%S}",
                )
                break
        as_stored = [a for a in answers if (a.content[0], Decimal(a.content[1])) == (event.dimension, event.quantity)]
        statuses = {a.status for a in as_stored}
        if "refused" in statuses and not statuses & {"accepted", "duplicate"}:
            world.violation(
                "nothing refused is ever billed",
                f"{event_id}: refused (and never answered 200), yet stored and billed",
            )


def _windows(world: World, stored: list[UsageEvent]) -> None:
    for event in _first_stored(stored).values():
        licence = world.marketplace.licences.get(event.license_arn or "")
        if licence is None:
            continue
        if event.timestamp < licence.started_at:
            world.violation(
                "nobody is metered outside their subscription",
                f"{event.event_id} stamped {event.timestamp:%H:%M:%S}, before the licence started at "
                f"{licence.started_at:%H:%M:%S}: accepted, billed to the buyer",
            )
        elif licence.closes_at is not None and event.timestamp >= licence.closes_at:
            world.violation(
                "nobody is metered outside their subscription",
                f"{event.event_id} stamped {event.timestamp:%H:%M:%S}, after the subscription closed",
            )


def _reconciled(world: World) -> None:
    audits: dict[datetime, list[tuple[datetime, list[str] | None]]] = defaultdict(list)
    for at, result in world.observed.runs:
        if result.audited is not None:
            kinds = None if result.findings is None else [f.kind for f in result.findings]
            audits[result.audited].append((at, kinds))
    hours = {entry.record.hour for entry in world.ledger.stored()}
    grace = timedelta(seconds=world.settings.flush_grace_seconds)
    # the last hour the flush's schedule has had a run to reconcile by the end: settled, and a tick later
    last = hour_of(world.plan.end - SETTLED_AFTER - grace) - 2 * HOUR
    for hour in sorted(h for h in hours if h <= last):
        done = audits.get(hour)
        if not done:
            world.violation("every closed hour is reconciled", f"hour {hour:%Y-%m-%dT%H} was never reconciled")
            continue
        _, kinds = done[-1]
        if kinds is None:
            world.violation("every closed hour is reconciled", f"hour {hour:%Y-%m-%dT%H}: CloudTrail unreadable")
            continue
        unexplained = [k for k in kinds if k not in (FAILED, PARKED)]
        if unexplained:
            world.violation(
                "reconciliation finds no unexplained difference",
                f"hour {hour:%Y-%m-%dT%H}: {', '.join(sorted(set(unexplained)))}",
            )


def _nobody_ending(world: World) -> None:
    for customer in world.customers_store.list_all():
        if customer.state is SubscriptionState.ENDING:
            world.violation("no buyer stays ending", f"{customer.ref.key[-12:]} is still ending at the end")
