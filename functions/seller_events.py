"""Events for the seller's provisioning systems ("Customer Registered", "Customer Ended", ...), behind a small
publisher interface: EventBridge in AWS (``functions.eventbridge``); in tests and on the local stack a publisher that
records and logs (below)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

from functions.observability import logger

EVENT_SOURCE = "marketplace-metering"
CUSTOMER_REGISTERED = "Customer Registered"
CUSTOMER_DETAILS_SUBMITTED = "Customer Details Submitted"
# a free trial the buyer claimed at registration, confirmed by AWS Marketplace later (registration could not ask it)
CUSTOMER_FREE_TRIAL_CONFIRMED = "Customer Free Trial Confirmed"
CUSTOMER_ACTIVATED = "Customer Activated"
CUSTOMER_ENDED = "Customer Ended"
# AWS Marketplace suspects fraud or abuse on a buyer's agreement, or the buyer's account closed (and its resolution):
# the seller may want to hold the buyer's access meanwhile
CUSTOMER_ADVISORY_ISSUED = "Customer Advisory Issued"
CUSTOMER_ADVISORY_RESOLVED = "Customer Advisory Resolved"


@dataclass(frozen=True)
class DomainEvent:
    """An event for the seller's systems, as published on their bus."""

    detail_type: str
    detail: dict[str, Any]


# the seller's dedupe key: seller events are at least once (a crash after publishing, before remembering it, sends the
# event again), and every copy of one fact carries the same id
EVENT_ID = "event_id"


def identified(detail_type: str, detail: dict[str, Any], subject: str, fact: str) -> DomainEvent:
    """The event with its ``event_id``: a hash of whom it is about (the customer's key, or the agreement), its kind
    and what makes the fact itself (the time it records, the registration's resolution), so the same fact, published
    again from anywhere, carries the same id."""
    digest = hashlib.sha256("\x1f".join((subject, detail_type, fact)).encode()).hexdigest()[:32]
    return DomainEvent(detail_type, {**detail, EVENT_ID: digest})


class PublishFailed(RuntimeError):
    pass


class EventPublisher(Protocol):
    def publish(self, event: DomainEvent) -> None: ...


class RecordingPublisher:
    """Keeps and logs every event: unit tests read ``events``; the local stack shows them in its log."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def publish(self, event: DomainEvent) -> None:
        self.events.append(event)
        logger.info("event published", extra={"detail_type": event.detail_type, "detail": event.detail})
