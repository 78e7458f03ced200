"""A usage event as stored, and the hour arithmetic the ingest and the flush share."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from functions.customers.model import IN_FLIGHT_MARGIN

HOUR = timedelta(hours=1)
# BatchMeterUsage's own quantity rules (QuantityAsDecimal's pattern, Quantity's maximum)
DECIMAL_QUANTITY = re.compile(r"^(0|[1-9][0-9]{0,9})(\.[0-9]{1,6})?$")
MAX_INTEGER_QUANTITY = 2_147_483_647
MAX_DECIMAL_QUANTITY = Decimal("9999999999.999999")
# A write not started within this of its acceptance is not made: the DynamoDB client's timeouts then bound a started
# write to about 40 s (functions.wiring.aws_clients), so a write started in time lands within the margin.
WRITE_START_DEADLINE = IN_FLIGHT_MARGIN / 4
# How long an event id counts once: as long as Marketplace can bill its record (its billing hour, 24 hours after it,
# and last month's hours until 06:00 UTC on the 1st), with an hour to spare
IDENTITY_LIFETIME = timedelta(hours=32)


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def first_hour_after_final_usage(sent: datetime) -> datetime:
    """The first hour not sent early for a buyer whose final usage was sent with the cutoff ``sent`` (their hours up
    to its hour may have been): usage of theirs accepted later (back, subscribed again) is billed in it or after it
    (``functions.usage.ingest.after_final_usage``), so a later leave's final hour must reach it to send that usage."""
    return hour_of(sent) + HOUR


def hour_key(hour: datetime) -> str:
    return hour.astimezone(UTC).strftime("%Y-%m-%dT%H")


def parse_hour_key(key: str) -> datetime:
    return datetime.strptime(key, "%Y-%m-%dT%H").replace(tzinfo=UTC)


def shard_of(event_id: str, shards: int) -> int:
    """Stable across processes and Python versions (``hash()`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=4).digest(), "big") % shards


@dataclass(frozen=True)
class Allocation:
    """Part of an event's quantity attributed to one tag set (UsageAllocations)."""

    tags: tuple[tuple[str, str], ...]  # sorted (key, value) pairs: one tag set, hashable
    quantity: Decimal


@dataclass(frozen=True)
class UsageEvent:
    """One accepted event, validated: the customer exists and may be metered, the quantity fits the dimension."""

    event_id: str
    product_code: str
    customer_key: str  # CustomerRef.key
    customer_aws_account_id: str
    dimension: str
    quantity: Decimal
    timestamp: datetime
    received_at: datetime
    license_arn: str | None = None
    customer_identifier: str | None = None
    allocations: tuple[Allocation, ...] = ()
    # set when the event arrived after its hour stopped taking usage: billed in this hour instead
    late_billing_hour: datetime | None = field(default=None)

    @property
    def hour(self) -> datetime:
        return hour_of(self.timestamp)

    @property
    def billing_hour(self) -> datetime:
        return self.late_billing_hour or self.hour

    @property
    def identity(self) -> tuple[str, str]:
        """What the event counts once under: its id, per customer (a licence names one product), whatever its
        timestamp (``identity_of``)."""
        return identity_of(self)


def identity_of(event: UsageEvent) -> tuple[str, str]:
    return (event.customer_key, event.event_id)


def resent_differently(first: UsageEvent, again: UsageEvent) -> str | None:
    """The field a resend of ``first`` changes (what Marketplace would bill differently), or None when it is the same
    event: same dimension, quantity, hour and allocations (the minute within the hour may differ)."""
    if again.dimension != first.dimension:
        return "dimension"
    if again.quantity != first.quantity:
        return "quantity"
    if again.hour != first.hour:
        return "timestamp"
    if sorted(again.allocations, key=lambda a: a.tags) != sorted(first.allocations, key=lambda a: a.tags):
        return "allocations"
    return None


def late_billing_hour(event_hour: datetime, now: datetime, grace: timedelta) -> datetime | None:
    """The hour that bills an event of ``event_hour`` received ``now``, if its own hour no longer takes usage.

    The flush seals hour H at H end + ``grace``. Ingest stops adding to H ``IN_FLIGHT_MARGIN`` earlier, so a write
    accepted before the cutoff lands before the seal; later events go to the hour that is still open when the
    write lands (``now + margin``), never to a sealed one. Decided by time alone: no read of a seal marker to race.
    """
    cutoff = event_hour + HOUR + grace - IN_FLIGHT_MARGIN
    if now < cutoff:
        return None
    return hour_of(now + IN_FLIGHT_MARGIN)
