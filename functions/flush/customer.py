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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from functions.customers.model import LEAVING_STATES, Customer, FinalUsageRequest
from functions.flush.aggregate import aggregate, spill
from functions.flush.calls import batches
from functions.flush.records import MeteringRecord, RecordResult
from functions.flush.sender import Sender, SendTally
from functions.flush.service import METERING_WINDOW, FlushDeps, cannot_send, rate_limiter
from functions.observability import logger
from functions.usage.model import HOUR, IN_FLIGHT_MARGIN, hour_of


class CustomerUsageIncomplete(RuntimeError):
    """Some records are still unsent (throttled, out of time): they stay pending, and the caller tries again."""


@dataclass(frozen=True)
class CustomerUsageReport:
    records: int = 0
    sent: int = 0
    dry_run: int = 0
    failed: int = 0


def customer_records(customer_key: str, deps: FlushDeps, now: datetime) -> list[MeteringRecord]:
    """The customer's records of every hour up to the present one that is not yet sent: unsealed hours aggregated
    for this customer alone, plus sealed records still pending."""
    key = customer_key
    # as the flush does: nothing older than the metering window is worth reading (Marketplace refuses it)
    oldest = hour_of(now - METERING_WINDOW)
    hour = max(deps.ledger.next_hour_to_seal() or oldest, oldest)
    records = [r for r in deps.ledger.pending(deps.ledger.unsent_mark()) if r.customer_key == key]
    carried = [r for r in deps.ledger.carried_into(hour) if r.customer_key == key]
    while hour <= hour_of(now):
        events = (
            e
            for e in itertools.chain(deps.usage.events_of_hour(hour), deps.usage.late_events_billed_in(hour))
            if e.customer_key == key
        )
        # as the hourly flush will seal these hours: an hour over one record's maximum carries into the next
        sealed, carried = spill(hour, aggregate(hour, events, deps.settings.products), carried)
        records += sealed
        hour += HOUR
    return records


def send_customer_usage(customer_key: str, deps: FlushDeps, *, out_of_time: Callable[[], bool]) -> CustomerUsageReport:
    """Send every unsent record of the customer now (the caller decides when: once their usage is final)."""
    now = deps.clock.now()
    records = customer_records(customer_key, deps, now)
    if not records:
        return CustomerUsageReport()
    # hours the flush sealed meanwhile (or this step, retried, stored already) keep their records and outcomes
    records = deps.ledger.write_pending(records)
    parked = [RecordResult(r, "failed", None, reason) for r in records if (reason := cannot_send(r, now))]
    if parked:
        deps.ledger.write_results(parked)
    parked_keys = {(p.record.hour, p.record.key) for p in parked}
    sendable = [r for r in records if (r.hour, r.key) not in parked_keys]
    sender = Sender(deps.gateway, rate_limiter(deps), deps.backoff, out_of_time)
    tally = SendTally()
    results: list[RecordResult] = []
    for batch in batches(sendable):
        batch_results = sender.deliver(batch, tally)
        if batch_results:
            deps.ledger.write_results(batch_results)
        results.extend(batch_results)
    if tally.left_pending:
        raise CustomerUsageIncomplete(f"{len(tally.left_pending)} records of {customer_key} left pending")
    return CustomerUsageReport(
        records=len(records),
        sent=sum(r.status == "sent" for r in results),
        dry_run=sum(r.status == "dry_run" for r in results),
        failed=len(parked) + sum(r.status not in ("sent", "dry_run") for r in results),
    )


def final_usage_sender(deps: FlushDeps) -> Callable[[Customer, Callable[[], bool]], None]:
    """A leaving buyer's final usage, as the lifecycle's timer sends it (its ``FinalUsage.send``)."""

    def send(customer: Customer, out_of_time: Callable[[], bool]) -> None:
        report = send_customer_usage(customer.ref.key, deps, out_of_time=out_of_time)
        logger.info("final usage sent", customer=customer.ref.key, records=report.records, failed=report.failed)

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
            answers[key] = send_customer_usage(key, deps, out_of_time=out_of_time)
        except CustomerUsageIncomplete:
            answers[key] = None
            continue
        requests.answered(region, request)
    return answers
