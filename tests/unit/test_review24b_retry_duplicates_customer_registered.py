"""Review 24b: the resolve step's kept answer (fix 35b4fcc) lets a registration that failed *after* publishing
"Customer Registered" run again on the buyer's retry, and the retry publishes "Customer Registered" a second time.

A buyer whose subscription was confirmed before they registered (state ACTIVE) registers; the customer is stored and
"Customer Registered" is published; then claiming the activation's announcement is throttled (a StorageError, the
buyer is told to try again in a minute). Before the fix the retry died at ResolveCustomer ("already used"); now it
reuses the kept answer, stores the customer again and publishes "Customer Registered" again: the seller's provisioning
gets two registrations for one buyer and one token. Invariant broken: no seller event duplicated under retry.

Adjusted with the fix (decision: seller events are at least once, every copy of one fact under the same
``event_id``, the seller's dedupe key): the retry may publish again, but nothing is lost and each event's copies carry
one id, the registration's (its kept resolution), the activation's (its time).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.registration.resolution import MarketplaceRejected, ResolvedCustomer
from functions.registration.service import Registrations
from functions.seller_events import CUSTOMER_ACTIVATED, CUSTOMER_REGISTERED, DomainEvent
from functions.settings import Dimension, Product
from functions.storage.errors import StorageError
from tests.fakes import FakeAgreementTerms, InMemoryCustomers

PRODUCT = Product(code="prod1", name="Acme", dimensions=(Dimension(name="api_calls"),))
RESOLVED = ResolvedCustomer("prod1", "111122223333", "arn:aws:license-manager::1:license:l-1", None, "agmt-1")


class OnceOnlyResolver:
    """ResolveCustomer as AWS answers it: a token resolves once, then 'expired or already used'."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def resolve(self, token: str) -> ResolvedCustomer:
        if token in self.seen:
            raise MarketplaceRejected("InvalidTokenException")
        self.seen.add(token)
        return RESOLVED


class ThrottledOnceCustomers(InMemoryCustomers):
    """The customers table throttles the first claim of the activation's announcement."""

    throttled = False

    def mark_announced(self, ref: CustomerRef, attribute: str, at: datetime) -> bool:
        if not self.throttled:
            self.throttled = True
            raise StorageError("ProvisionedThroughputExceededException", code="Throttling", retryable=True)
        return super().mark_announced(ref, attribute, at)


class Bus:
    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def publish(self, event: DomainEvent) -> None:
        self.events.append(event)


def test_a_retry_after_a_storage_failure_publishes_each_event_under_one_event_id() -> None:
    store = ThrottledOnceCustomers()
    ref = CustomerRef("prod1", license_arn=RESOLVED.license_arn)
    store.stored[ref.key] = Customer(
        ref=ref,
        customer_aws_account_id="111122223333",
        state=SubscriptionState.ACTIVE,
        state_changed_at=datetime(2026, 11, 26, 9, 30, tzinfo=UTC),
    )
    bus = Bus()
    service = Registrations(
        resolver=OnceOnlyResolver(),
        agreement_terms=FakeAgreementTerms(),
        customers=store,
        publisher=bus,
        clock=ManualClock(datetime(2026, 11, 26, 10, tzinfo=UTC)),
        signing_secret=lambda: "secret",
        products=(PRODUCT,),
        completion_ttl_seconds=600,
    )
    with pytest.raises(StorageError):
        service.register("tok", free_trial_claimed=False)  # the buyer sees "try again in a minute"
    service.register("tok", free_trial_claimed=False)  # the retry completes (the fix under review)

    for kind in (CUSTOMER_REGISTERED, CUSTOMER_ACTIVATED):
        copies = [e for e in bus.events if e.detail_type == kind]
        assert copies, f"{kind} lost: {[e.detail_type for e in bus.events]}"
        assert len({e.detail["event_id"] for e in copies}) == 1, copies
    assert store.stored[ref.key].announced_activation == datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
