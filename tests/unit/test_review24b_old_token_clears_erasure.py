"""Review 24b: a reload of a registration made before an erasure starts a sign-up value again, through the resolve
step's kept answer.

7aa923d makes a registration answer replayed after forget-customer start no sign-up value, and says only the buyer's
next real registration (a new token) clears the erasure's mark. But a registration whose storing failed (a throttled
write, 'try again in a minute') keeps no registration answer, only ResolveCustomer's (35b4fcc, 24 h in production). If
the operator erases the buyer meanwhile, a reload of that old page (the browser re-posts the same token) runs the
whole registration again: upsert_registration clears the mark, a fresh sign-up value is started, and the seller's back
end exchanges it and links the erased tenant id back. The erasure must win over anything issued before it.
"""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime

import pytest

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.registration import signing
from functions.registration.resolution import ResolvedCustomer
from functions.registration.seller_signup import SellerSignups, SignupUsed
from functions.registration.service import Registrations, RememberedInProcess
from functions.seller_events import RecordingPublisher
from functions.settings import Dimension, Product
from functions.storage.errors import StorageError
from tests.fakes import FakeAgreementTerms, FakeResolver, InMemoryCustomers

PRODUCT = Product(
    code="prod1",
    name="Acme",
    dimensions=(Dimension(name="api_calls"),),
    signup_redirect_url="https://seller.example/signup",
)
RESOLVED = ResolvedCustomer("prod1", "111122223333", "arn:aws:license-manager::1:license:l-1", None, "agmt-1")
SECRET = "secret"


class ThrottledWhenAsked(InMemoryCustomers):
    throttle_next_upsert = False

    def upsert_registration(self, registration: Customer, completion_nonce: str) -> Customer:
        if self.throttle_next_upsert:
            self.throttle_next_upsert = False
            raise StorageError("ProvisionedThroughputExceededException", code="Throttling", retryable=True)
        return super().upsert_registration(registration, completion_nonce)


def test_a_reload_of_a_registration_from_before_the_erasure_links_nothing_back() -> None:
    clock = ManualClock(datetime(2026, 11, 26, 10, tzinfo=UTC))
    store = ThrottledWhenAsked()
    ref = CustomerRef("prod1", license_arn=RESOLVED.license_arn)
    store.stored[ref.key] = Customer(
        ref=ref,
        customer_aws_account_id="111122223333",
        state=SubscriptionState.ACTIVE,
        state_changed_at=datetime(2026, 11, 20, tzinfo=UTC),
        tenant_id="ada-at-example-com",
    )
    store.contacts[ref.key] = {"email": "ada@example.com"}
    service = Registrations(
        resolver=FakeResolver(RESOLVED),
        agreement_terms=FakeAgreementTerms(),
        customers=store,
        publisher=RecordingPublisher(),
        clock=clock,
        signing_secret=lambda: SECRET,
        products=(PRODUCT,),
        completion_ttl_seconds=600,
        run_once=RememberedInProcess(),  # as Powertools: an answer is kept only when the registration finished
    )
    signups = SellerSignups(customers=store, clock=clock, signing_secret=lambda: SECRET)

    store.throttle_next_upsert = True
    with pytest.raises(StorageError):
        service.register("token-issued-before-the-erasure", free_trial_claimed=False)

    assert store.forget_contact(ref)  # the operator: cli forget-customer
    assert ref.key in store.erased

    reloaded = service.register("token-issued-before-the-erasure", free_trial_claimed=False)  # the old page reloaded
    assert reloaded.redirect_url is not None
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(reloaded.redirect_url).query)
    value = query[signing.SIGNUP_PARAMETER][0]

    assert ref.key in store.erased, "a token from before the erasure cleared the erasure's mark"
    # the seller's back end, following the redirect, must get nothing to link the erased tenant id back with
    with pytest.raises(SignupUsed):
        signups.exchange(value, signing.signup_exchange(value, SECRET)[signing.SIGNATURE_FIELD])
