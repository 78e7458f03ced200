"""A leaving buyer's final usage, sealed and sent within their final hour instead of at the next hourly flush.

Marketplace accepts one record per (customer, dimension, hour) and bills the first quantity, so the hours that are
still open for everyone else can be sealed early for this one customer only if nothing is added to them later.
That is what the customer's ``final_usage_cutoff`` does: ingest refuses their usage after it. This step runs
``final_usage_delay_seconds`` after the cutoff (timed by ``functions.lifecycle.service.Lifecycle.continue_ending``),
once every write accepted before it has landed (``IN_FLIGHT_MARGIN``), so it reads exactly what the hourly flush
will read for these hours. The hourly flush later seals the same hours and computes the very same records for this
customer: identical records, which Marketplace answers idempotently.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from functions.customers.model import Customer, CustomerRef
from functions.flush.aggregate import aggregate, spill
from functions.flush.calls import batches
from functions.flush.ledger import RecordResult
from functions.flush.records import MeteringRecord
from functions.flush.sender import Sender, SendTally, TokenBucket
from functions.flush.service import METERING_WINDOW, FlushDeps, unsendable, window_missed
from functions.observability import logger
from functions.usage.model import HOUR, hour_of

FINAL_USAGE = "final_usage"


class FinalUsageIncomplete(RuntimeError):
    """Some records are still unsent (throttled, out of time): they stay pending and the step is retried."""


@dataclass(frozen=True)
class FinalUsageReport:
    records: int = 0
    sent: int = 0
    failed: int = 0


def final_records(customer: Customer, deps: FlushDeps, now: datetime) -> list[MeteringRecord]:
    """The customer's records of every hour up to the present one that is not yet sent: unsealed hours aggregated
    for this customer alone, plus sealed records still pending."""
    key = customer.ref.key
    # as the flush does: nothing older than the metering window is worth reading (Marketplace refuses it)
    oldest = hour_of(now - METERING_WINDOW)
    hour = max(deps.ledger.next_hour_to_seal() or oldest, oldest)
    records = [r for r in deps.ledger.pending() if r.customer_key == key]
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


def send_final_usage(customer: Customer, deps: FlushDeps, *, out_of_time: Callable[[], bool]) -> FinalUsageReport:
    """Send every unsent record of the customer now (the caller decides when: after the cutoff's writes landed)."""
    now = deps.clock.now()
    records = final_records(customer, deps, now)
    if not records:
        return FinalUsageReport()
    # hours the flush sealed meanwhile (or this step, retried, stored already) keep their records and outcomes
    records = deps.ledger.write_pending(records)
    parked = [RecordResult(r, "failed", None, reason) for r in records if (reason := _cannot_send(r, now))]
    if parked:
        deps.ledger.write_results(parked)
    parked_keys = {(p.record.hour, p.record.key) for p in parked}
    sendable = [r for r in records if (r.hour, r.key) not in parked_keys]
    sender = Sender(
        deps.gateway, TokenBucket(float(deps.settings.metering_calls_per_second)), deps.backoff, out_of_time
    )
    tally = SendTally()
    results: list[RecordResult] = []
    for batch in batches(sendable):
        batch_results = sender.deliver(batch, tally)
        if batch_results:
            deps.ledger.write_results(batch_results)
        results.extend(batch_results)
    if tally.left_pending:
        raise FinalUsageIncomplete(f"{len(tally.left_pending)} final records of {customer.ref.key} left pending")
    return FinalUsageReport(
        records=len(records),
        sent=sum(r.status == "sent" for r in results),
        failed=len(parked) + sum(r.status != "sent" for r in results),
    )


def _cannot_send(record: MeteringRecord, now: datetime) -> str | None:
    if window_missed(record.hour, now):
        return "TimestampOutOfBounds"
    return unsendable(record)


def final_usage_message(ref: CustomerRef) -> str:
    """The body of the delayed message that runs the final-usage step (on the lifecycle queue itself)."""
    return json.dumps(
        {
            FINAL_USAGE: {
                "product_code": ref.product_code,
                "license_arn": ref.license_arn,
                "customer_identifier": ref.customer_identifier,
            }
        }
    )


def requested_final_usage(body: str) -> CustomerRef | None:
    """The customer a final-usage message names; None for any other message."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # not ours: the notification parser says what is wrong with it
        return None
    if not isinstance(document, dict) or FINAL_USAGE not in document:
        return None
    request = document[FINAL_USAGE]
    try:
        return CustomerRef(
            product_code=str(request["product_code"]),
            license_arn=request.get("license_arn"),
            customer_identifier=request.get("customer_identifier"),
        )
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise ValueError(f"final_usage: not a customer reference ({error})") from None


class SqsFinalUsage:
    """The leaving buyer's timer is a message to the lifecycle queue, delayed at most as long as SQS allows; the
    sending itself is the final-usage step above, with the flush's collaborators."""

    MAX_DELAY_SECONDS = 900

    def __init__(self, client: Any, queue_url: str, deps: FlushDeps) -> None:
        self._client = client
        self._queue_url = queue_url
        self._deps = deps

    def schedule(self, ref: CustomerRef, delay_seconds: float) -> None:
        delay = min(self.MAX_DELAY_SECONDS, max(0, math.ceil(delay_seconds)))
        self._client.send_message(QueueUrl=self._queue_url, MessageBody=final_usage_message(ref), DelaySeconds=delay)

    def send(self, customer: Customer, out_of_time: Callable[[], bool]) -> None:
        report = send_final_usage(customer, self._deps, out_of_time=out_of_time)
        logger.info("final usage sent", customer=customer.ref.key, records=report.records, failed=report.failed)
