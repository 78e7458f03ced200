"""A seller event registration could not publish is sent again from the lifecycle queue, never dropped.

Registration publishes "Customer Registered", "Customer Details Submitted" and "Customer Activated" after the buyer's
data are stored and the token or form is spent, so neither the buyer's retry nor a replayed answer would publish it
again. A failed PutEvents therefore leaves a timer (a delayed message to the lifecycle queue, as a free-trial check
does) carrying the event; the lifecycle function publishes it, and a failure there fails the message, so SQS delivers
it again until it lands in the dead-letter queue (its own alarm): at least once, like the lifecycle's own events. Each
event carries its ``event_id`` (the seller's dedupe key); the lifecycle function publishes a retried event once per
``event_id`` where it can (``run_once``: the idempotency table), so SQS's redelivery of the message sends it once
more only if the invocation ended between publishing and remembering it.
Every first failure is counted (metric ``RegistrationEventsNotPublished``, which raises an alarm); one that could not
even be queued is logged as lost. The events carry no personal data (a reference for the details), so the queue holds
none either.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from functions.observability import logger, metrics
from functions.registration.free_trial import Timer, TimerUnavailable
from functions.seller_events import EVENT_ID, DomainEvent, EventPublisher

SELLER_EVENT_RETRY = "seller_event_retry"
RETRY_DELAY_SECONDS = 60
NOT_PUBLISHED_METRIC = "RegistrationEventsNotPublished"


def retry_message(event: DomainEvent) -> str:
    return json.dumps({SELLER_EVENT_RETRY: {"detail_type": event.detail_type, "detail": event.detail}})


def requested_retry(body: str) -> DomainEvent | None:
    """The event a lifecycle-queue message asks to publish again; None for any other message; ValueError for a
    malformed one."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict) or SELLER_EVENT_RETRY not in document:
        return None
    request = document[SELLER_EVENT_RETRY]
    if not isinstance(request, dict) or not isinstance(request.get("detail"), dict):
        raise ValueError(f"{SELLER_EVENT_RETRY}: not an event")
    detail_type = request.get("detail_type")
    if not isinstance(detail_type, str) or not detail_type:
        raise ValueError(f"{SELLER_EVENT_RETRY}: no detail_type")
    return DomainEvent(detail_type, request["detail"])


# Runs ``function(request)`` once per ``request["event_id"]`` (Powertools idempotency in the lifecycle function); a
# failure remembers nothing, so the message's redelivery runs it again
PublishOnce = Callable[[Callable[[dict[str, Any]], dict[str, Any]], dict[str, Any]], dict[str, Any]]


@dataclass
class PublishedInProcess:
    """A PublishOnce remembering the event ids this process published (where no idempotency table is given)."""

    published: set[str] = field(default_factory=set)

    def __call__(self, function: Callable[[dict[str, Any]], dict[str, Any]], request: dict[str, Any]) -> dict[str, Any]:
        if request[EVENT_ID] in self.published:
            return {"status": "published"}
        answer = function(request)
        self.published.add(request[EVENT_ID])
        return answer


@dataclass
class SellerEventRetries:
    """Seller events whose publishing failed, published again later from the lifecycle queue."""

    publisher: EventPublisher
    timer: Timer | None  # None: nowhere to leave a timer (no lifecycle queue configured)
    run_once: PublishOnce = field(default_factory=PublishedInProcess)

    def later(self, event: DomainEvent) -> bool:
        """Publish ``event`` again from the lifecycle queue: False if it could not be queued (lost). Never fails the
        caller: the registration is done."""
        metrics.add_metric(name=NOT_PUBLISHED_METRIC, unit="Count", value=1)
        if self.timer is None:
            logger.error("seller event lost: not published, and no lifecycle queue", detail_type=event.detail_type)
            return False
        try:
            self.timer.schedule(retry_message(event), RETRY_DELAY_SECONDS)
        except TimerUnavailable as error:
            logger.error(
                "seller event lost: not published nor queued", detail_type=event.detail_type, reason=str(error)
            )
            return False
        logger.warning("seller event not published: sent again from the lifecycle queue", detail_type=event.detail_type)
        return True

    def handle(self, body: str) -> str | None:
        """One lifecycle-queue message: publish the event it carries (PublishFailed fails the message: SQS delivers it
        again), or None if it carries none."""
        event = requested_retry(body)
        if event is None:
            return None
        event_id = event.detail.get(EVENT_ID)
        if isinstance(event_id, str) and event_id:
            request = {EVENT_ID: event_id, "detail_type": event.detail_type, "detail": event.detail}
            self.run_once(self._publish, request)
        else:  # queued by a version before event ids: nothing to remember it by
            self.publisher.publish(event)
        logger.info("seller event published on retry", detail_type=event.detail_type, event_id=event_id)
        return "published"

    def _publish(self, request: dict[str, Any]) -> dict[str, Any]:
        self.publisher.publish(DomainEvent(request["detail_type"], request["detail"]))
        return {"status": "published"}  # what the idempotency record keeps: no detail
