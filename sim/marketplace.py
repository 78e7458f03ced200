"""AWS Marketplace as the simulator's buyers live in it: who is subscribed when, BatchMeterUsage with the rules its
reference and our emulator keep (../shared/reference/marketplace-api.md, local/marketplace/README.md), and CloudTrail's
event history of the calls.

- One record per (customer, dimension, hour); an identical record again answers the first MeteringRecordId, another
  quantity ``DuplicateRecord`` (the first is billed).
- A record whose UsageAllocations Marketplace would not take (not adding up to its quantity, over 2,500, a tag set
  twice, two untagged) fails its whole call (InvalidUsageAllocationsException); an identical record again means the
  same quantity and the same allocations.
- A record stamped outside the 24-hour window, or last month's after 06:00 UTC on the 1st, fails its whole call
  (TimestampOutOfBounds); so does one stamped before the buyer's licence started (InvalidLicense: usage outside the
  licence's activation period).
- ``CustomerNotSubscribed`` for a buyer whose final hour is over (an hour after they unsubscribed).
- An outsider (a script with the seller's credentials, another stack of the product) may bill our buyers too, with
  the same rules: the first record of a (customer, dimension, hour) is billed, whoever sent it, and ours after it is
  ``DuplicateRecord`` (``outsider``: what it billed first). Each licence's agreements over time say whose invoice an
  hour's billing is on (``agreement_at``).
- Faults (the scheduler's): throttling and 5xx before the call, unprocessed records, and an answer lost after the
  records were committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from functions.flush.audit import TrailResult
from functions.flush.records import BatchOutcome, BatchRejected, MeteringRecord, RecordOutcome
from functions.flush.service import window_missed
from functions.usage.model import hour_of
from sim.scheduler import Actor, Scheduler

# After a buyer unsubscribes, Marketplace takes their usage for about an hour (marketplace-api.md)
FINAL_HOUR = timedelta(hours=1)


@dataclass
class Licence:
    """A licence (or a legacy customer identifier, reused when the buyer subscribes again): its subscriptions."""

    license_arn: str
    account: str
    windows: list[tuple[datetime, datetime | None]]  # (started, closes: Marketplace takes nothing for it from then)

    @property
    def started_at(self) -> datetime:
        return self.windows[0][0]

    @property
    def closes_at(self) -> datetime | None:
        return self.windows[-1][1]

    def open_at(self, moment: datetime) -> bool:
        return any(start <= moment and (closes is None or moment < closes) for start, closes in self.windows)


@dataclass(frozen=True)
class Billed:
    quantity: Decimal
    metering_record_id: str
    at: datetime
    allocations: tuple[tuple[tuple[tuple[str, str], ...], Decimal], ...] = ()  # (tag set, quantity), sorted


@dataclass(frozen=True)
class TrailCall:
    at: datetime
    results: tuple[TrailResult, ...]
    delivered_at: datetime  # CloudTrail shows it from then on (within about 15 minutes)


@dataclass
class SimMarketplace:
    scheduler: Scheduler
    violation: Callable[[str, str], None]
    licences: dict[str, Licence] = field(default_factory=dict)
    billed: dict[tuple[str, str, datetime], Billed] = field(default_factory=dict)
    billed_by: dict[tuple[str, str, datetime], Actor | None] = field(default_factory=dict)  # our invocation that did
    calls: list[TrailCall] = field(default_factory=list)
    refused: list[tuple[MeteringRecord, str]] = field(default_factory=list)  # whole calls refused, per record
    not_subscribed: list[MeteringRecord] = field(default_factory=list)
    # (customer, dimension, hour): the units an outsider billed there first (ours, if any, came second)
    outsider: dict[tuple[str, str, datetime], Decimal] = field(default_factory=dict)
    # each licence's agreements, from when each held it (a renewal is a new agreement of the same licence)
    agreements: dict[str, list[tuple[datetime, str]]] = field(default_factory=dict)
    _ids: int = 0

    # the world's side
    def subscribe(self, license_arn: str, account: str) -> None:
        now = self.scheduler.now.replace(microsecond=0)  # to the second, as AWS's events give its time
        licence = self.licences.setdefault(license_arn, Licence(license_arn, account, []))
        if not licence.windows or licence.closes_at is not None:  # subscribed while subscribed: nothing changes
            licence.windows.append((now, None))

    def unsubscribe(self, license_arn: str) -> None:
        licence = self.licences[license_arn]
        if licence.closes_at is None:
            licence.windows[-1] = (licence.windows[-1][0], self.scheduler.now + FINAL_HOUR)

    def agree(self, license_arn: str, agreement_id: str) -> None:
        held = self.agreements.setdefault(license_arn, [])
        if not held or held[-1][1] != agreement_id:
            held.append((self.scheduler.now, agreement_id))

    def agreement_at(self, customer: str, hour: datetime) -> str | None:
        """The agreement whose invoice an hour's billing is on: the one holding the licence when the hour began (or
        its first)."""
        held = self.agreements.get(customer, [])
        found = [agreement for since, agreement in held if hour_of(since) <= hour]
        return found[-1] if found else (held[0][1] if held else None)

    def owner_of(self, agreement_id: str) -> str | None:
        return next((c for c, held in self.agreements.items() if any(a == agreement_id for _, a in held)), None)

    def meter_outside(self, record: MeteringRecord) -> str:
        """An outsider's BatchMeterUsage of one record, by Marketplace's rules (not our code: no port call, no fault):
        its result's status, or the error that refused it."""
        now = self.scheduler.now
        licence = self.licences.get(record.customer)
        if window_missed(record.hour, now):
            return "TimestampOutOfBoundsException"
        if licence is None or record.hour < hour_of(licence.started_at):
            return "InvalidLicenseException"
        key = (record.customer, record.dimension, record.hour)
        first = key not in self.billed
        outcome = self._meter(record, now, outsider=True)
        if first and outcome.status == "Success":
            self.outsider[key] = record.quantity
        self.calls.append(
            TrailCall(
                now,
                (self._trail_result(outcome, now),),
                now + timedelta(seconds=self.scheduler.random.uniform(30, 900)),
            )
        )
        return outcome.status

    def units(self, customer: str, dimension: str) -> Decimal:
        return sum((b.quantity for (c, d, _), b in self.billed.items() if (c, d) == (customer, dimension)), Decimal(0))

    # MeteringGateway
    def batch_meter_usage(self, records: Sequence[MeteringRecord]) -> BatchOutcome:
        self.scheduler.port("marketplace.BatchMeterUsage", "before")
        now = self.scheduler.now
        for record in records:
            licence = self.licences.get(record.customer)
            if window_missed(record.hour, now):
                self._refuse(records, "TimestampOutOfBoundsException")
            if licence is None or record.hour < hour_of(licence.started_at):
                self._refuse(records, "InvalidLicenseException")
            if record.allocations and not _allocations_valid(record):
                self._refuse(records, "InvalidUsageAllocationsException")
        outcomes: list[RecordOutcome] = []
        unprocessed: list[MeteringRecord] = []
        for record in records:
            if self.scheduler.random.random() < self.unprocessed_rate:
                unprocessed.append(record)
                continue
            outcomes.append(self._meter(record, now))
        self.calls.append(
            TrailCall(
                now,
                tuple(self._trail_result(o, now) for o in outcomes),
                now + timedelta(seconds=self.scheduler.random.uniform(30, 900)),
            )
        )
        if self.scheduler.log is not None:
            self.scheduler.log(
                "[marketplace] BatchMeterUsage: "
                + ", ".join(f"{_short(o.record)}={o.record.quantity} {o.status}" for o in outcomes)
                + (f"; {len(unprocessed)} unprocessed" if unprocessed else "")
            )
        self.scheduler.port("marketplace.BatchMeterUsage", "after")  # the answer may be lost here
        return BatchOutcome(tuple(outcomes), tuple(unprocessed))

    unprocessed_rate = 0.0

    def _refuse(self, records: Sequence[MeteringRecord], code: str) -> None:
        self.refused.extend((r, code) for r in records)
        if self.scheduler.log is not None:
            self.scheduler.log(f"[marketplace] BatchMeterUsage refused: {code} ({', '.join(map(_short, records))})")
        raise BatchRejected(code, "refused by the simulated Marketplace")

    def _meter(self, record: MeteringRecord, now: datetime, *, outsider: bool = False) -> RecordOutcome:
        licence = self.licences[record.customer]
        if not licence.open_at(now):
            self.not_subscribed.append(record)
            return RecordOutcome(record, "CustomerNotSubscribed", None)
        key = (record.customer, record.dimension, record.hour)
        first = self.billed.get(key)
        allocations = _allocations_of(record)
        if first is None:
            self._ids += 1
            self.billed[key] = Billed(record.quantity, f"mr-{self._ids:06d}", now, allocations)
            actor = self.scheduler.current()
            self.billed_by[key] = actor.invocation if actor else None
            return RecordOutcome(record, "Success", self.billed[key].metering_record_id)
        if (first.quantity, first.allocations) == (record.quantity, allocations):
            return RecordOutcome(record, "Success", first.metering_record_id)
        if outsider or key in self.outsider:  # two senders of one hour: the second is DuplicateRecord, as AWS answers
            return RecordOutcome(record, "DuplicateRecord", first.metering_record_id)
        self.violation(
            "no record Marketplace has seen is ever sent again with a different quantity",
            f"{record.key} of {record.hour:%Y-%m-%dT%H}: billed {first.quantity} {first.allocations}, sent again as "
            f"{record.quantity} {allocations}",
        )
        return RecordOutcome(record, "DuplicateRecord", first.metering_record_id)

    @staticmethod
    def _trail_result(outcome: RecordOutcome, now: datetime) -> TrailResult:
        record = outcome.record
        return TrailResult(
            customer=record.customer,
            customer_aws_account_id=record.customer_aws_account_id,
            dimension=record.dimension,
            hour=record.hour,
            quantity=record.quantity,
            status=outcome.status,
            metering_record_id=outcome.metering_record_id,
            event_time=now,
            # CloudTrail names the product of a call naming a customer identifier (legacy), none of a licence's
            product_code=record.product_code if record.customer_identifier else None,
        )

    # TrailReader (CloudTrail's event history)
    def metering_results(self, start: datetime, end: datetime | None = None) -> Iterator[TrailResult]:
        self.scheduler.port("cloudtrail.LookupEvents", "before")
        return self.shown(start, end)

    def shown(self, start: datetime, end: datetime | None = None) -> Iterator[TrailResult]:
        """What CloudTrail shows now of the calls from ``start`` on (until ``end``, inclusive as LookupEvents')."""
        now = self.scheduler.now
        return iter(
            [
                r
                for call in self.calls
                if call.at >= start and (end is None or call.at <= end) and call.delivered_at <= now
                for r in call.results
            ]
        )


def _allocations_of(record: MeteringRecord) -> tuple[tuple[tuple[tuple[str, str], ...], Decimal], ...]:
    return tuple(sorted((a.tags, a.quantity) for a in record.allocations))


def _allocations_valid(record: MeteringRecord) -> bool:
    """UsageAllocations as Marketplace takes them (local/marketplace/README.md): 1 to 2,500, their quantities adding
    up to the record's, each tag set once, at most one without tags."""
    tag_sets = [a.tags for a in record.allocations]
    return (
        len(tag_sets) <= 2500
        and sum((a.quantity for a in record.allocations), Decimal(0)) == record.quantity
        and len(set(tag_sets)) == len(tag_sets)
        and tag_sets.count(()) <= 1
    )


def _short(record: MeteringRecord) -> str:
    """A record as a trace names it: the licence's last characters, dimension and hour."""
    return f"{record.customer[-6:]}/{record.dimension}@{record.hour:%d %H}h"
