"""Review 24: a buyer whose subscription was confirmed before they registered is announced ("Customer Activated")
by their registration. Two registrations of that buyer at once (two tabs of "Set up your account", or a reload racing
the first answer with a new token) both read "not announced yet", both publish, and only then try to remember it:
the seller's provisioning gets "Customer Activated" twice for one subscription. Registration publishes first and
marks after (``Registrations._announce_activation``), so the conditional mark cannot stop the second event.

The interleaving is made deterministic: the second registration runs while the first is publishing its "Customer
Registered" (after the first read the customer, before it announces).

Review 24b (decision: seller events are at least once, with a stable ``event_id``): claiming before publishing lost
the event when the invocation died in between, so registration publishes first and marks after again. Two
registrations at once may then both announce; every copy carries the same ``event_id``, the seller's dedupe key."""

from __future__ import annotations

from datetime import UTC, datetime

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.registration.resolution import ResolvedCustomer
from functions.registration.service import Registrations
from functions.seller_events import CUSTOMER_ACTIVATED, CUSTOMER_REGISTERED, DomainEvent, PublishFailed
from functions.settings import Dimension, Product
from tests.fakes import FakeAgreementTerms, FakeResolver, InMemoryCustomers

PRODUCT = Product(code="prod1", name="Acme", dimensions=(Dimension(name="api_calls"),))
RESOLVED = ResolvedCustomer("prod1", "111122223333", "arn:aws:license-manager::1:license:l-1", None, "agmt-1")


class SecondTabPublisher:
    """Records events; while the first "Customer Registered" is being published, the buyer's second tab registers."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []
        self.second_tab: Registrations | None = None

    def publish(self, event: DomainEvent) -> None:
        self.events.append(event)
        if event.detail_type == CUSTOMER_REGISTERED and self.second_tab is not None:
            second, self.second_tab = self.second_tab, None
            second.register("token-of-the-second-tab", free_trial_claimed=False)


def test_two_registrations_at_once_announce_the_activation_under_one_event_id() -> None:
    store = InMemoryCustomers()
    ref = CustomerRef("prod1", license_arn=RESOLVED.license_arn)
    confirmed_at = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    store.stored[ref.key] = Customer(
        ref=ref, customer_aws_account_id="111122223333", state=SubscriptionState.ACTIVE, state_changed_at=confirmed_at
    )
    publisher = SecondTabPublisher()
    service = Registrations(
        resolver=FakeResolver(RESOLVED),
        agreement_terms=FakeAgreementTerms(),
        customers=store,
        publisher=publisher,
        clock=ManualClock(datetime(2026, 11, 26, 10, tzinfo=UTC)),
        signing_secret=lambda: "secret",
        products=(PRODUCT,),
        completion_ttl_seconds=600,
    )
    publisher.second_tab = service

    service.register("token-of-the-first-tab", free_trial_claimed=False)

    activations = [e for e in publisher.events if e.detail_type == CUSTOMER_ACTIVATED]
    assert len([e for e in publisher.events if e.detail_type == CUSTOMER_REGISTERED]) == 2  # both registrations ran
    assert activations, [e.detail_type for e in publisher.events]  # never lost
    assert len({e.detail["event_id"] for e in activations}) == 1, activations  # one fact, one id
    assert store.stored[ref.key].announced_activation == confirmed_at


def test_an_activation_that_could_be_neither_published_nor_queued_is_announced_by_the_next_registration() -> None:
    """(fix) An event lost (neither published nor queued) is not marked announced, so at least once still holds."""

    class Bus:
        def __init__(self) -> None:
            self.down = True
            self.events: list[DomainEvent] = []

        def publish(self, event: DomainEvent) -> None:
            if self.down:
                raise PublishFailed("PutEvents failed")
            self.events.append(event)

    store = InMemoryCustomers()
    ref = CustomerRef("prod1", license_arn=RESOLVED.license_arn)
    confirmed_at = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    store.stored[ref.key] = Customer(
        ref=ref, customer_aws_account_id="111122223333", state=SubscriptionState.ACTIVE, state_changed_at=confirmed_at
    )
    bus = Bus()
    service = Registrations(
        resolver=FakeResolver(RESOLVED),
        agreement_terms=FakeAgreementTerms(),
        customers=store,
        publisher=bus,
        clock=ManualClock(datetime(2026, 11, 26, 10, tzinfo=UTC)),
        signing_secret=lambda: "secret",
        products=(PRODUCT,),
        completion_ttl_seconds=600,
    )
    service.register("first", free_trial_claimed=False)  # no lifecycle queue here: the event is lost
    assert store.stored[ref.key].announced_activation is None
    bus.down = False
    service.register("second", free_trial_claimed=False)
    assert [e.detail_type for e in bus.events].count(CUSTOMER_ACTIVATED) == 1
    assert store.stored[ref.key].announced_activation == confirmed_at
