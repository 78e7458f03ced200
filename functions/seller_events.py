"""Events for the seller's provisioning systems ("Customer Registered", "Customer Ended", ...), behind a small
publisher interface: EventBridge in AWS (``functions.eventbridge``); in tests and on the local stack a publisher that
records and logs (below)."""

from __future__ import annotations

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
    detail_type: str
    detail: dict[str, Any]


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
