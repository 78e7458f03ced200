"""Events for the seller's provisioning systems, behind a small publisher interface.

EventBridge in AWS (the stack's bus); in tests and on the local stack a publisher that records and logs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from functions.observability import logger

EVENT_SOURCE = "marketplace-metering"
CUSTOMER_REGISTERED = "Customer Registered"
CUSTOMER_DETAILS_SUBMITTED = "Customer Details Submitted"
CUSTOMER_ACTIVATED = "Customer Activated"
CUSTOMER_ENDED = "Customer Ended"


@dataclass(frozen=True)
class DomainEvent:
    detail_type: str
    detail: dict[str, Any]


class PublishFailed(RuntimeError):
    pass


class EventPublisher(Protocol):
    def publish(self, event: DomainEvent) -> None: ...


class EventBridgePublisher:
    def __init__(self, client: Any, bus_name: str) -> None:
        self._client = client
        self._bus_name = bus_name

    def publish(self, event: DomainEvent) -> None:
        entry = {
            "Source": EVENT_SOURCE,
            "DetailType": event.detail_type,
            "Detail": json.dumps(event.detail, separators=(",", ":"), sort_keys=True),
            "EventBusName": self._bus_name,
        }
        try:
            response = self._client.put_events(Entries=[entry])
        except (ClientError, BotoCoreError) as error:
            raise PublishFailed(f"PutEvents failed: {type(error).__name__}") from error
        if response.get("FailedEntryCount"):
            failed = response["Entries"][0]
            raise PublishFailed(f"PutEvents rejected the event: {failed.get('ErrorCode')} {failed.get('ErrorMessage')}")


class RecordingPublisher:
    """Keeps and logs every event: unit tests read ``events``; the local stack shows them in its log."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def publish(self, event: DomainEvent) -> None:
        self.events.append(event)
        logger.info("event published", extra={"detail_type": event.detail_type, "detail": event.detail})
