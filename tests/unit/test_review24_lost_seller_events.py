"""Review 24: registration publishes its seller events at most once. A failed PutEvents is logged and counted
(``RegistrationEventsNotPublished``) and then forgotten: nothing sends the event again, the buyer's retry cannot (the
form is spent: 409; a replayed registration POST replays the stored answer without publishing), and no alarm watches
the metric (``tests/infra/test_review24_lost_seller_events_alarm.py``). The seller's provisioning waits for "Customer
Details Submitted" (or "Customer Registered") that never comes, while the buyer was told "You are all set". The
lifecycle function, by contrast, lets a failed publish fail the message, so SQS retries it (at least once)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.clock import ManualClock
from functions.registration.event_retries import SellerEventRetries
from functions.registration.resolution import ResolvedCustomer
from functions.registration.service import CompletionUsed, Registrations
from functions.seller_events import CUSTOMER_DETAILS_SUBMITTED, DomainEvent, PublishFailed
from functions.settings import Dimension, Product
from tests.fakes import FakeAgreementTerms, FakeResolver, InMemoryCustomers
from tests.unit.test_free_trial_checks import FakeTimer

PRODUCT = Product(code="prod1", name="Acme", dimensions=(Dimension(name="api_calls"),))
RESOLVED = ResolvedCustomer("prod1", "111122223333", "arn:aws:license-manager::1:license:l-1", None, "agmt-1")
CONTACT = {"company": ["Acme"], "contact_name": ["Ada"], "email": ["ada@example.com"]}


class BusDownOnce:
    """The event bus refuses the first "Customer Details Submitted" (an outage, throttling), then works."""

    def __init__(self) -> None:
        self.delivered: list[DomainEvent] = []
        self.failed_once = False

    def publish(self, event: DomainEvent) -> None:
        if event.detail_type == CUSTOMER_DETAILS_SUBMITTED and not self.failed_once:
            self.failed_once = True
            raise PublishFailed("PutEvents failed: EndpointConnectionError")
        self.delivered.append(event)


def test_details_submitted_reaches_the_seller_after_an_event_bus_outage() -> None:
    bus = BusDownOnce()
    # (fix) the lifecycle queue, as registration's composition root gives it: the lifecycle function delivers its
    # messages to the same retries' handle
    queue = FakeTimer()
    retries = SellerEventRetries(publisher=bus, timer=queue)
    service = Registrations(
        resolver=FakeResolver(RESOLVED),
        agreement_terms=FakeAgreementTerms(),
        customers=InMemoryCustomers(),
        publisher=bus,
        clock=ManualClock(datetime(2026, 11, 26, 10, tzinfo=UTC)),
        signing_secret=lambda: "secret",
        products=(PRODUCT,),
        completion_ttl_seconds=600,
        event_retries=retries,
    )
    registered = service.register("tok", free_trial_claimed=False)
    completed = service.complete(registered.completion_value, CONTACT)  # the buyer sees "You are all set"
    assert completed.contact["email"] == "ada@example.com"
    assert bus.failed_once

    # every retry open to anyone once the bus is back: the buyer resubmits, the browser replays the registration
    with pytest.raises(CompletionUsed):
        service.complete(registered.completion_value, CONTACT)
    service.register("tok", free_trial_claimed=False)  # (production replays this from the idempotency record)
    # (fix) what none of those does, the lifecycle function does: it publishes the event the queue carries
    assert [retries.handle(body) for body, _ in queue.scheduled] == ["published"]

    assert CUSTOMER_DETAILS_SUBMITTED in [e.detail_type for e in bus.delivered]


def test_a_retry_that_fails_again_fails_its_message_and_other_messages_are_not_ours() -> None:
    """SQS delivers a failed message again (then to the dead-letter queue): the retry is at least once."""

    class BusDown:
        def publish(self, event: DomainEvent) -> None:
            raise PublishFailed("PutEvents failed: EndpointConnectionError")

    queue = FakeTimer()
    SellerEventRetries(publisher=BusDown(), timer=queue).later(DomainEvent(CUSTOMER_DETAILS_SUBMITTED, {"k": "v"}))
    ((body, delay),) = queue.scheduled
    assert delay > 0
    with pytest.raises(PublishFailed):
        SellerEventRetries(publisher=BusDown(), timer=None).handle(body)
    assert SellerEventRetries(publisher=BusDown(), timer=None).handle('{"free_trial_check": {}}') is None
    with pytest.raises(ValueError, match="seller_event_retry"):
        SellerEventRetries(publisher=BusDown(), timer=None).handle('{"seller_event_retry": {"detail": 1}}')
