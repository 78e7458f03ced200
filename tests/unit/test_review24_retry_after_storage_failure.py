"""Review 24: with single-use registration tokens (AWS's API reference: a resubmitted token is ExpiredTokenException;
the emulator's ``token_single_use``), a transient DynamoDB failure after ResolveCustomer answered tells the buyer to
try again in a minute, but ResolveCustomer already spent the token: the retry is refused as an expired link. The page
asks for a retry that cannot succeed; the buyer's registration is lost until they find "Set up your account" again.

Production runs the same path through Powertools idempotency, which deletes its in-progress record when the function
raises, so the retry resolves the token again exactly as here (``run_every_time``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.clock import ManualClock
from functions.customers.model import Customer
from functions.handlers.registration import error_response
from functions.registration.resolution import ExpiredToken, ResolvedCustomer
from functions.registration.service import Registrations
from functions.seller_events import RecordingPublisher
from functions.settings import Dimension, Product
from functions.storage.errors import StorageError
from tests.fakes import FakeAgreementTerms, InMemoryCustomers

PRODUCT = Product(code="prod1", name="Acme", dimensions=(Dimension(name="api_calls"),))
RESOLVED = ResolvedCustomer("prod1", "111122223333", "arn:aws:license-manager::1:license:l-1", None, "agmt-1")


class SingleUseResolver:
    """ResolveCustomer where a token resolves once: a second call is ExpiredTokenException."""

    def __init__(self) -> None:
        self.resolved: set[str] = set()

    def resolve(self, token: str) -> ResolvedCustomer:
        if token in self.resolved:
            raise ExpiredToken("the registration token has expired or was already used")
        self.resolved.add(token)
        return RESOLVED


class ThrottledOnce(InMemoryCustomers):
    """The customers table throttles the first registration write (ProvisionedThroughputExceededException)."""

    def __init__(self) -> None:
        super().__init__()
        self.throttled = False

    def upsert_registration(self, registration: Customer, completion_nonce: str) -> Customer:
        if not self.throttled:
            self.throttled = True
            raise StorageError("DynamoDB ProvisionedThroughputExceededException", code="Throttled", retryable=True)
        return super().upsert_registration(registration, completion_nonce)


def test_a_storage_hiccup_after_resolve_customer_never_asks_for_a_retry_that_cannot_succeed() -> None:
    customers = ThrottledOnce()
    service = Registrations(
        resolver=SingleUseResolver(),
        agreement_terms=FakeAgreementTerms(),
        customers=customers,
        publisher=RecordingPublisher(),
        clock=ManualClock(datetime(2026, 11, 26, 10, tzinfo=UTC)),
        signing_secret=lambda: "secret",
        products=(PRODUCT,),
        completion_ttl_seconds=600,
    )
    # The buyer's browser posts the token; ResolveCustomer answers; the customers table throttles the write
    with pytest.raises(StorageError) as failure:
        service.register("tok", free_trial_claimed=False)
    page = error_response(failure.value)
    asks_for_retry = page.status_code == 503 and "Try again in a minute" in str(page.body)
    assert asks_for_retry  # what the buyer is told today

    # The buyer does exactly that: the same POST a minute later
    try:
        service.register("tok", free_trial_claimed=False)
        retry = "registered"
    except ExpiredToken:
        retry = "refused as an expired link"

    # Either the retry the page asked for registers the buyer, or the page must not ask for one
    assert retry == "registered", f"the page said 'Try again in a minute'; the retry was {retry}"
    assert len(customers.stored) == 1
