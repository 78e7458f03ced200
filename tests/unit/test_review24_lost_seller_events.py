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
from functions.registration.resolution import ResolvedCustomer
from functions.registration.service import CompletionUsed, Registrations
from functions.seller_events import CUSTOMER_DETAILS_SUBMITTED, DomainEvent, PublishFailed
from functions.settings import Dimension, Product
from tests.fakes import FakeAgreementTerms, FakeResolver, InMemoryCustomers

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
    service = Registrations(
        resolver=FakeResolver(RESOLVED),
        agreement_terms=FakeAgreementTerms(),
        customers=InMemoryCustomers(),
        publisher=bus,
        clock=ManualClock(datetime(2026, 11, 26, 10, tzinfo=UTC)),
        signing_secret=lambda: "secret",
        products=(PRODUCT,),
        completion_ttl_seconds=600,
    )
    registered = service.register("tok", free_trial_claimed=False)
    completed = service.complete(registered.completion_value, CONTACT)  # the buyer sees "You are all set"
    assert completed.contact["email"] == "ada@example.com"
    assert bus.failed_once

    # every retry open to anyone once the bus is back: the buyer resubmits, the browser replays the registration
    with pytest.raises(CompletionUsed):
        service.complete(registered.completion_value, CONTACT)
    service.register("tok", free_trial_claimed=False)  # (production replays this from the idempotency record)

    assert CUSTOMER_DETAILS_SUBMITTED in [e.detail_type for e in bus.delivered]
