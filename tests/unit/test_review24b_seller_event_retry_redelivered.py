"""Review 24b: a seller event's retry (b28e908) is published again each time SQS delivers its message.

SQS delivers a message at least once: again after its visibility timeout when the lifecycle invocation that published
it ended before deleting it (its timeout, a later message of the batch running it out of time), or simply twice. The
lifecycle's own notifications run once per event id (``LifecycleWorker.run_once``); the registration's retried events
have no such guard, and carry no id a consumer could deduplicate on: the seller gets "Customer Details Submitted"
(or "Customer Registered", or "Customer Activated" the registration claimed once) twice for one buyer.

Adjusted with the fix (decision: every seller event carries its ``event_id``; the retry handler runs once per
``event_id``): the event is built as registration builds it (``identified``), and published again if the first
publish failed (nothing lost), once where the run_once remembers it.
"""

from __future__ import annotations

import pytest

from functions.registration.event_retries import SellerEventRetries
from functions.seller_events import CUSTOMER_ACTIVATED, DomainEvent, PublishFailed, identified
from tests.unit.test_free_trial_checks import FakeTimer

LICENCE = "arn:aws:license-manager::1:license:l-1"


class Bus:
    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def publish(self, event: DomainEvent) -> None:
        self.events.append(event)


def test_the_same_retry_message_delivered_twice_publishes_its_event_once() -> None:
    queue = FakeTimer()
    SellerEventRetries(publisher=Bus(), timer=queue).later(
        identified(
            CUSTOMER_ACTIVATED,
            {"product_code": "prod1", "license_arn": LICENCE},
            f"prod1#{LICENCE}",
            "2026-11-26T09:30:00+00:00",
        )
    )
    ((body, _),) = queue.scheduled
    bus = Bus()
    worker_retries = SellerEventRetries(publisher=bus, timer=None)  # the lifecycle function's, as its wiring builds it

    worker_retries.handle(body)  # published; the invocation ends before SQS deletes the message
    worker_retries.handle(body)  # SQS delivers it again after the visibility timeout

    assert [e.detail_type for e in bus.events] == [CUSTOMER_ACTIVATED]
    assert bus.events[0].detail["event_id"]


def test_a_retry_message_whose_publish_failed_publishes_on_its_redelivery() -> None:
    """(fix) run_once remembers only what was published: a failed publish fails the message, its redelivery sends it."""
    queue = FakeTimer()
    event = identified(CUSTOMER_ACTIVATED, {"license_arn": LICENCE}, f"prod1#{LICENCE}", "2026-11-26T09:30:00+00:00")
    SellerEventRetries(publisher=Bus(), timer=queue).later(event)
    ((body, _),) = queue.scheduled

    class DownOnce(Bus):
        down = True

        def publish(self, event: DomainEvent) -> None:
            if self.down:
                self.down = False
                raise PublishFailed("PutEvents failed")
            super().publish(event)

    bus = DownOnce()
    worker_retries = SellerEventRetries(publisher=bus, timer=None)
    with pytest.raises(PublishFailed):
        worker_retries.handle(body)
    worker_retries.handle(body)
    worker_retries.handle(body)
    assert [e.detail["event_id"] for e in bus.events] == [event.detail["event_id"]]
