"""The flush's public API for other capabilities: one customer's unsent usage, sealed and sent now (a leaving buyer's
final usage, within their final hour, instead of at the next hourly flush).

Marketplace accepts one record per (customer, dimension, hour) and bills the first quantity, so the hours that are
still open for everyone else can be sealed early for this one customer only if nothing is added to them later: the
caller sends once usage is no longer taken for the customer and every write accepted before has landed
(``IN_FLIGHT_MARGIN``), so this reads exactly what the hourly flush will read for these hours. The hourly flush later
seals the same hours and computes the very same records for this customer: identical records, which Marketplace
answers idempotently.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from aws_lambda_powertools.metrics import MetricUnit

from functions.customers.model import IN_FLIGHT_MARGIN, LEAVING_STATES, Customer, FinalUsageRequest
from functions.flush.aggregate import aggregate, spill
from functions.flush.calls import batches
from functions.flush.records import MeteringRecord, Placement, RecordResult, placed_records
from functions.flush.run import publish_failed
from functions.flush.sender import Sender, SendTally
from functions.flush.service import (
    METERING_WINDOW,
    FlushDeps,
    answered,
    begin_live_reconciliation,
    park_dry_run_hours,
    park_unsendable,
    rate_limiter,
)
from functions.observability import logger, metrics
from functions.usage.model import HOUR, MAX_DECIMAL_QUANTITY, MAX_INTEGER_QUANTITY, hour_of


class CustomerUsageIncomplete(RuntimeError):
    """Some records are still unsent (throttled, out of time): they stay pending, and the caller tries again."""


@dataclass(frozen=True)
class CustomerUsageReport:
    """What sending one buyer's usage did: records sent, answered in dry run, failed and why."""

    records: int = 0
    sent: int = 0
    dry_run: int = 0
    failed: int = 0
    reasons: tuple[tuple[str, int], ...] = ()  # what ``failed`` counts, by reason (a status where it has none)


def customer_records(
    customer_key: str, deps: FlushDeps, now: datetime, until: datetime | None = None
) -> tuple[list[MeteringRecord], list[MeteringRecord]]:
    """The customer's records of every hour up to the present one (or their final hour, ``until``, if earlier) that is
    not yet sent: unsealed hours aggregated for this customer alone, plus sealed records still pending; and what the
    last of them carries on (usage over one record's maximum, into the hour after it)."""
    key = customer_key
    # as the flush does: nothing older than the metering window is worth reading (Marketplace refuses it)
    oldest = hour_of(now - METERING_WINDOW)
    hour = max(deps.ledger.next_hour_to_seal() or oldest, oldest)
    records = [r for r in deps.ledger.pending(deps.ledger.unsent_mark()) if r.customer_key == key]
    last = min(hour_of(now), until) if until is not None else hour_of(now)
    carried = [r for r in deps.ledger.carried_into(hour) if r.customer_key == key]
    if hour > last:
        # their last hour sealed already: what it carries on is stored, and placed if a try of this step placed it
        # (and then died before writing the records it placed: this try places them the same)
        after = last + HOUR
        carried = [r for r in deps.ledger.carried_into(after) if r.customer_key == key]
        carried += [c for c, _ in deps.ledger.placements_into(after) if c.customer_key == key]
    while hour <= last:
        events = (
            e
            for e in itertools.chain(deps.usage.events_of_hour(hour), deps.usage.late_events_billed_in(hour))
            if e.customer_key == key
        )
        # as the hourly flush will seal these hours: an hour over one record's maximum carries into the next
        sealed, carried = spill(hour, aggregate(hour, events, deps.settings.products), carried)
        records += sealed
        hour += HOUR
        if carried and hour <= last:
            # into an hour of theirs: a carry an earlier subscription's final-usage step placed (a legacy buyer's,
            # the identifier reused) is not this one's. (Into the hour after: placed_carries keeps a retry's.)
            placed = {c.key for c, _ in deps.ledger.placements_into(hour)}
            carried = [c for c in carried if c.key not in placed]
    return records, carried


def placed_carries(
    carried: list[MeteringRecord],
    records: list[MeteringRecord],
    deps: FlushDeps,
    now: datetime,
    hours: tuple[datetime | None, datetime | None],
) -> list[MeteringRecord]:
    """What a leaving buyer's last hour carries on, billed in earlier hours of theirs instead: Marketplace keeps one
    record per customer, dimension and hour and takes records up to 24 hours old, so any sealed hour of theirs
    (``hours``: from their subscription's start to their final hour) with no record for that dimension will do, from
    the latest; never one after their final hour, though the step may run in it (it would bill usage they did not
    have then, and a renewed buyer's usage of that hour would find its record taken). The records it bills there, and
    those parked where no hour is left (``cannot_send`` parks them): the ledger keeps the placement first
    (``place_carry``), so a retry places it the same, and an hour's sealing that took the carry in already (the carry
    is then its) places nothing."""
    since, final_hour = hours
    earliest = max(hour_of(now - METERING_WINDOW) + HOUR, hour_of(since) if since else hour_of(now - METERING_WINDOW))
    latest = min(hour_of(now), final_hour) if final_hour else hour_of(now)
    # only hours sealed already: the flush seals an open one with records of its own (a zero record, usage stamped
    # late), and the hour keeps one record per key: the first written, the other lost
    unsealed = deps.ledger.next_hour_to_seal()
    latest = min(latest, unsealed - HOUR) if unsealed else earliest - HOUR
    # and only hours sealed in the mode in force: live, an hour sealed in dry run was another integration's to bill (a
    # record of ours there is reconciled by its Marketplace answer alone, and a parked one never: attack 62)
    dry_run = not deps.settings.bills
    placed: list[MeteringRecord] = []
    for carry in carried:
        taken = {r.hour for r in records if r.key == carry.key}
        hour, left = latest, carry.quantity
        plan: Placement = []
        cap = Decimal(MAX_INTEGER_QUANTITY) if carry.integer else MAX_DECIMAL_QUANTITY
        while left > 0 and hour >= earliest:
            if (
                hour not in taken
                and all(e.record.key != carry.key for e in deps.ledger.entries_of_hour(hour))
                and deps.ledger.sealed_in_dry_run(hour) == dry_run
            ):
                plan.append((hour, min(left, cap)))
                left -= min(left, cap)
            hour -= HOUR
        if left > 0:
            plan.append((None, left))
        placed += placed_records(carry, deps.ledger.place_carry(carry, plan) or [])
    return placed


def send_customer_usage(customer: Customer, deps: FlushDeps, *, out_of_time: Callable[[], bool]) -> CustomerUsageReport:
    """Send every unsent record of a leaving customer now, up to their final hour (the caller decides when: once their
    usage is final); what that hour would carry on is billed in earlier hours of theirs instead."""
    now = deps.clock.now()
    # hours of their current subscription only: from its start, or, where AWS has not said it, from the first usage
    # ingest takes as theirs (attack 74)
    customer_key, since = customer.ref.key, customer.usage_from
    final_hour = hour_of(customer.final_usage_cutoff) if customer.final_usage_cutoff else None
    records, carried = customer_records(customer_key, deps, now, final_hour)
    placed = placed_carries(carried, records, deps, now, (since, final_hour))
    records += placed
    if not records:
        return CustomerUsageReport()
    # sent before any flush (its schedule out on a new stack), reconciled too
    begin_live_reconciliation(deps, None, now, *(r.hour for r in records))
    # hours the flush sealed meanwhile (or this step, retried, stored already) keep their records and outcomes
    records = deps.ledger.write_pending(records)
    # a carry no hour of theirs could take is parked (cannot_send: CarriedPastEnd), as is any record Marketplace
    # would refuse now, and, live, a record of an hour sealed in dry run is answered as that run would have
    parked: list[RecordResult] = []
    sendable = park_dry_run_hours(deps, park_unsendable(deps, records, now, parked), parked)
    sender = Sender(deps.gateway, rate_limiter(deps), deps.backoff, out_of_time)
    tally = SendTally()
    results: list[RecordResult] = []
    # oldest hours first (nearest Marketplace's window and month-end cutoff), but a carry placed in an earlier hour
    # last: it follows its final hour's record, and must never be answered while that record is not (a step killed
    # between the two answers, then the other mode: attack 68)
    carries = {(r.hour, r.key) for r in placed}
    sendable.sort(key=lambda r: (r.hour, r.key) in carries)
    for batch in batches(sendable):
        batch_results = answered(sender.deliver(batch, tally), deps.clock)
        if batch_results:
            deps.ledger.write_results(batch_results)
        results.extend(batch_results)
    if tally.left_pending:
        raise CustomerUsageIncomplete(f"{len(tally.left_pending)} records of {customer_key} left pending")
    failed = Counter(r.reason or r.status for r in [*parked, *results] if r.status not in ("sent", "dry_run"))
    return CustomerUsageReport(
        records=len(records),
        sent=sum(r.status == "sent" for r in results),
        dry_run=sum(r.status == "dry_run" for r in [*parked, *results]),
        failed=sum(failed.values()),
        reasons=tuple(sorted(failed.items())),
    )


def final_usage_sender(deps: FlushDeps) -> Callable[[Customer, Callable[[], bool]], None]:
    """A leaving buyer's final usage, as the lifecycle's timer sends it (its ``FinalUsage.send``)."""

    def send(customer: Customer, out_of_time: Callable[[], bool]) -> None:
        report = send_customer_usage(customer, deps, out_of_time=out_of_time)
        logger.info("final usage sent", customer=customer.ref.key, records=report.records, failed=report.failed)
        # counted as the flush counts its own (the same alarms): a record parked here is never silently absent
        metrics.add_metric(name="RecordsSucceeded", unit=MetricUnit.Count, value=report.sent)
        publish_failed(Counter(dict(report.reasons)))

    return send


# the flush's event in another metering Region, on a schedule of its own: answer the main Region's requests
FINAL_USAGE_REQUESTS = "final_usage_requests"


class FinalUsageRequests(Protocol):
    def pending(self, region: str) -> list[FinalUsageRequest]: ...

    def answered(self, region: str, request: FinalUsageRequest) -> None: ...


def answer_final_usage_requests(
    deps: FlushDeps, requests: FinalUsageRequests, *, out_of_time: Callable[[], bool]
) -> dict[str, CustomerUsageReport | None]:
    """In a metering Region other than the main one: send the usage of each leaving buyer the main Region asked
    about (its final-usage step), at once, before Marketplace stops taking it.

    Checked here first, on this Region's replica, as the main Region checks before it sends: a buyer no longer
    leaving (subscribed again) has nothing sent early, and the request is answered; one whose cutoff here has not
    passed, with the writes in flight at it, is left for the next run (sealing their hour early would lose usage
    this Region still takes). Answered once all the customer's usage is sent; one left incomplete (throttled, out of
    time) stays too. Per customer key: the report, an empty one where nothing was due, None where left."""
    region = deps.settings.region
    now = deps.clock.now()
    answers: dict[str, CustomerUsageReport | None] = {}
    for request in requests.pending(region):
        if out_of_time():
            break
        key = request.ref.key
        customer = deps.customers.get(request.ref)
        if customer is None or customer.state not in LEAVING_STATES or customer.final_usage_cutoff is None:
            answers[key] = CustomerUsageReport()  # the hourly flush bills them as everyone
            requests.answered(region, request)
            continue
        if now < customer.final_usage_cutoff + IN_FLIGHT_MARGIN:
            answers[key] = None
            continue
        try:
            answers[key] = send_customer_usage(customer, deps, out_of_time=out_of_time)
        except CustomerUsageIncomplete:
            answers[key] = None
            continue
        requests.answered(region, request)
    return answers
