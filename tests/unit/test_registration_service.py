"""The registration domain with in-memory fakes of our own interfaces."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.handlers.registration import ERROR_PAGES, error_response
from functions.registration import signing
from functions.registration.resolution import (
    AgreementTermsUnavailable,
    AnswerLost,
    ExpiredToken,
    InvalidToken,
    MarketplaceRejected,
    MarketplaceUnavailable,
    ResolvedCustomer,
)
from functions.registration.seller_signup import SellerSignups
from functions.registration.service import (
    CompletionExpired,
    CompletionInvalid,
    CompletionUsed,
    FormInvalid,
    MalformedToken,
    MissingToken,
    Registrations,
)
from functions.seller_events import (
    CUSTOMER_ACTIVATED,
    CUSTOMER_DETAILS_SUBMITTED,
    CUSTOMER_REGISTERED,
    PublishFailed,
    RecordingPublisher,
)
from functions.settings import Dimension, Product
from functions.storage.errors import ConditionFailed, StorageError
from tests.fakes import FakeAgreementTerms, FakeResolver, InMemoryCustomers

PRODUCT = Product(code="prod1", name="Acme", dimensions=(Dimension(name="api_calls"),))
RESOLVED = ResolvedCustomer("prod1", "111122223333", "arn:aws:license-manager::1:license:l-1", None, "agmt-1")
CONTACT = {"company": ["Acme"], "contact_name": ["Ada"], "email": ["ada@example.com"]}


class FailingPublisher:
    def publish(self, event: Any) -> None:
        raise PublishFailed("bus down")


def registrations(resolver: FakeResolver, **changes: Any) -> Registrations:
    defaults: dict[str, Any] = {
        "resolver": resolver,
        "agreement_terms": FakeAgreementTerms(),
        "customers": InMemoryCustomers(),
        "publisher": RecordingPublisher(),
        "clock": ManualClock(datetime(2026, 11, 26, 10, tzinfo=UTC)),
        "signing_secret": lambda: "secret",
        "products": (PRODUCT,),
        "completion_ttl_seconds": 600,
    }
    return Registrations(**{**defaults, **changes})


def test_register_stores_publishes_and_signs_a_completion_bound_to_the_customer() -> None:
    service = registrations(FakeResolver(RESOLVED), agreement_terms=FakeAgreementTerms(True))
    registered = service.register("tok", free_trial_claimed=True)
    assert registered.product_name == "Acme"
    assert registered.free_trial is True
    assert registered.redirect_url is None
    publisher = service.publisher
    assert isinstance(publisher, RecordingPublisher)
    assert [e.detail_type for e in publisher.events] == [CUSTOMER_REGISTERED]
    assert publisher.events[0].detail["license_arn"] == RESOLVED.license_arn
    completed = service.complete(registered.completion_value, CONTACT)
    assert completed.contact == {"company": "Acme", "contact_name": "Ada", "email": "ada@example.com"}
    assert isinstance(service.customers, InMemoryCustomers)
    assert service.customers.contact(completed.customer.ref) == completed.contact
    assert publisher.events[-1].detail_type == CUSTOMER_DETAILS_SUBMITTED


def test_a_subscription_confirmed_before_registration_is_announced_once_on_registration() -> None:
    # Given a buyer whose subscription was confirmed (lifecycle events) before they registered
    store = InMemoryCustomers()
    ref = CustomerRef("prod1", license_arn=RESOLVED.license_arn)
    confirmed_at = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    store.stored[ref.key] = Customer(
        ref=ref, customer_aws_account_id="111122223333", state=SubscriptionState.ACTIVE, state_changed_at=confirmed_at
    )
    service = registrations(FakeResolver(RESOLVED), customers=store)
    # When they register, and register again
    service.register("tok", free_trial_claimed=False)
    service.register("tok-2", free_trial_claimed=False)
    # Then "Customer Activated" went out once, remembered with the confirmation time
    publisher = service.publisher
    assert isinstance(publisher, RecordingPublisher)
    assert [e.detail_type for e in publisher.events] == [CUSTOMER_REGISTERED, CUSTOMER_ACTIVATED, CUSTOMER_REGISTERED]
    assert store.stored[ref.key].announced_activation == confirmed_at


@pytest.mark.parametrize(("token", "error"), [(None, MissingToken), ("", MissingToken), ("a b", MalformedToken)])
def test_a_missing_or_malformed_token_never_reaches_marketplace(token: str | None, error: type[Exception]) -> None:
    resolver = FakeResolver(RESOLVED)
    with pytest.raises(error):
        registrations(resolver).register(token, free_trial_claimed=False)
    assert resolver.tokens == []


@pytest.mark.parametrize("failure", [InvalidToken("x"), ExpiredToken("x"), MarketplaceUnavailable("x")])
def test_a_refused_token_stores_and_publishes_nothing(failure: Exception) -> None:
    service = registrations(FakeResolver(failure))
    with pytest.raises(type(failure)):
        service.register("tok", free_trial_claimed=False)
    assert isinstance(service.customers, InMemoryCustomers)
    assert service.customers.stored == {}
    assert isinstance(service.publisher, RecordingPublisher)
    assert service.publisher.events == []


def test_a_failed_event_does_not_fail_the_registration() -> None:
    service = registrations(FakeResolver(RESOLVED), publisher=FailingPublisher())
    assert service.register("tok", free_trial_claimed=False).product_name == "Acme"


def test_a_completion_value_expires_and_cannot_be_forged() -> None:
    clock = ManualClock(datetime(2026, 11, 26, 10, tzinfo=UTC))
    service = registrations(FakeResolver(RESOLVED), clock=clock)
    value = service.register("tok", free_trial_claimed=False).completion_value
    with pytest.raises(CompletionInvalid):
        registrations(FakeResolver(RESOLVED), signing_secret=lambda: "other").complete(value, CONTACT)
    clock.advance(timedelta(seconds=600))
    with pytest.raises(CompletionExpired):
        service.complete(value, CONTACT)


def test_an_invalid_form_is_returned_with_its_values() -> None:
    service = registrations(FakeResolver(RESOLVED))
    value = service.register("tok", free_trial_claimed=False).completion_value
    with pytest.raises(FormInvalid) as raised:
        service.complete(value, {"company": ["<b>"], "email": ["x"]})
    assert raised.value.form.values["company"] == "<b>"
    assert set(raised.value.form.errors) == {"contact_name", "email"}
    assert raised.value.completion_value == value


REDIRECTING = dataclasses.replace(PRODUCT, signup_redirect_url="https://seller.example/s")


def signed_free_trial(service: Registrations, registered: Any) -> bool:
    """The free trial the seller's back end learns when it exchanges the value its sign-up page was sent."""
    value = registered.redirect_url.split(f"{signing.SIGNUP_PARAMETER}=", 1)[1]
    assert isinstance(service.customers, InMemoryCustomers)
    signups = SellerSignups(service.customers, service.clock, service.signing_secret)
    claims = signups.exchange(value, signing.signup_exchange(value, "secret")[signing.SIGNATURE_FIELD])
    return bool(claims["free_trial"])


def test_a_free_trial_the_agreement_does_not_include_is_kept_as_a_claim_and_never_signed() -> None:
    # Given a paid buyer whose browser says free-trial
    terms = FakeAgreementTerms(False)
    service = registrations(FakeResolver(RESOLVED), agreement_terms=terms, products=(REDIRECTING,))
    registered = service.register("tok", free_trial_claimed=True)
    # Then Marketplace was asked about the buyer's agreement, and its answer is what counts
    assert terms.agreements == [RESOLVED.agreement_id]
    assert registered.free_trial is False
    assert signed_free_trial(service, registered) is False
    assert isinstance(service.customers, InMemoryCustomers)
    (customer,) = service.customers.stored.values()
    assert (customer.free_trial, customer.free_trial_claimed) == (False, True)
    assert isinstance(service.publisher, RecordingPublisher)
    detail = service.publisher.events[0].detail
    assert (detail["free_trial"], detail["free_trial_claimed"]) == (False, True)


def test_a_free_trial_the_agreement_includes_is_confirmed_whatever_the_browser_said() -> None:
    service = registrations(FakeResolver(RESOLVED), agreement_terms=FakeAgreementTerms(True), products=(REDIRECTING,))
    registered = service.register("tok", free_trial_claimed=False)
    assert registered.free_trial is True
    assert signed_free_trial(service, registered) is True
    assert isinstance(service.publisher, RecordingPublisher)
    detail = service.publisher.events[0].detail
    assert (detail["free_trial"], detail["free_trial_claimed"]) == (True, False)


def test_unreadable_terms_register_the_buyer_and_keep_a_confirmed_trial_confirmed() -> None:
    # Given a buyer whose free trial an earlier registration confirmed
    store = InMemoryCustomers()
    registrations(FakeResolver(RESOLVED), customers=store, agreement_terms=FakeAgreementTerms(True)).register(
        "tok", free_trial_claimed=True
    )
    # When they register again while Marketplace cannot say (throttled, denied, down)
    failing = FakeAgreementTerms(AgreementTermsUnavailable("ThrottlingException"))
    service = registrations(FakeResolver(RESOLVED), customers=store, agreement_terms=failing, products=(REDIRECTING,))
    registered = service.register("tok-2", free_trial_claimed=True)
    # Then the registration goes through and the confirmation stands
    assert registered.product_name == "Acme"
    assert registered.free_trial is True
    # and a buyer never confirmed stays a claim
    fresh = registrations(FakeResolver(RESOLVED), agreement_terms=failing, products=(REDIRECTING,))
    unconfirmed = fresh.register("tok", free_trial_claimed=True)
    assert unconfirmed.free_trial is False
    assert signed_free_trial(fresh, unconfirmed) is False


def test_without_an_agreement_id_marketplace_is_not_asked_and_nothing_is_confirmed() -> None:
    terms = FakeAgreementTerms(True)
    legacy = dataclasses.replace(RESOLVED, agreement_id=None)
    registered = registrations(FakeResolver(legacy), agreement_terms=terms).register("tok", free_trial_claimed=True)
    assert terms.agreements == []
    assert registered.free_trial is False


def test_an_answer_stored_before_claims_were_kept_apart_replays_its_free_trial_as_a_claim() -> None:
    # Given an idempotency record written by the previous version, whose "free_trial" was the browser's word
    earlier = {**dataclasses.asdict(RESOLVED), "free_trial": True, "completion_nonce": "n-1"}

    def replay(function: Any, request: dict[str, Any]) -> dict[str, Any]:
        return earlier

    store = InMemoryCustomers()
    ref = CustomerRef("prod1", license_arn=RESOLVED.license_arn)
    store.put(Customer(ref, "111122223333", SubscriptionState.PENDING, datetime(2026, 11, 26, 9, tzinfo=UTC)))
    service = registrations(FakeResolver(RESOLVED), run_once=replay, products=(REDIRECTING,), customers=store)
    # When the buyer's browser resubmits that token
    registered = service.register("tok", free_trial_claimed=True)
    # Then it is not signed or shown as a free trial
    assert registered.free_trial is False
    assert signed_free_trial(service, registered) is False


def test_a_signup_redirect_carries_the_signed_parameter() -> None:
    product = dataclasses.replace(PRODUCT, signup_redirect_url="https://seller.example/s?a=1")
    registered = registrations(FakeResolver(RESOLVED), products=(product,)).register("tok", free_trial_claimed=False)
    assert registered.redirect_url is not None
    assert registered.redirect_url.startswith("https://seller.example/s?a=1&x-marketplace-registration=")


@pytest.mark.parametrize(
    ("mode", "license_arn", "identifier", "named_by"),
    [
        ("license", "arn:aws:license-manager::1:license:l-1", None, "license_arn"),
        ("license", "arn:aws:license-manager::1:license:l-1", "ident-1", "license_arn"),
        ("legacy", "arn:aws:license-manager::1:license:l-1", "ident-1", "customer_identifier"),
        ("legacy", None, "ident-1", "customer_identifier"),
        # configured by licence, but Marketplace gave the identifier alone: the one name there is
        ("license", None, "ident-1", "customer_identifier"),
    ],
)
def test_the_buyer_is_kept_and_signed_by_one_name_whatever_resolve_customer_returned(
    mode: str, license_arn: str | None, identifier: str | None, named_by: str
) -> None:
    product = dataclasses.replace(REDIRECTING, customer_mode="legacy" if mode == "legacy" else "license")
    resolved = dataclasses.replace(RESOLVED, license_arn=license_arn, customer_identifier=identifier)
    service = registrations(FakeResolver(resolved), products=(product,))
    registered = service.register("tok", free_trial_claimed=False)
    assert isinstance(service.customers, InMemoryCustomers)
    (customer,) = service.customers.stored.values()
    assert getattr(customer.ref, named_by) is not None
    assert registered.redirect_url is not None
    value = registered.redirect_url.split(f"{signing.SIGNUP_PARAMETER}=", 1)[1]
    claims = signing.verify(value, secret="secret", purpose=signing.SIGNUP, now=0)
    assert (claims["license_arn"], claims["customer_identifier"]) == (
        customer.ref.license_arn,
        customer.ref.customer_identifier,
    )


def test_an_answer_naming_no_customer_is_refused_before_anything_is_stored() -> None:
    nameless = dataclasses.replace(RESOLVED, license_arn=None, customer_identifier=None)
    service = registrations(FakeResolver(nameless))
    with pytest.raises(MarketplaceRejected):
        service.register("tok", free_trial_claimed=False)
    assert isinstance(service.customers, InMemoryCustomers)
    assert service.customers.stored == {}


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (MissingToken("x"), 400),
        (InvalidToken("x"), 400),
        (ExpiredToken("x"), 400),
        (MarketplaceUnavailable("x"), 503),
        (StorageError("x", code="Throttling", retryable=True), 503),
        # what a retry cannot fix is never answered "try again"
        (StorageError("x", code="ResourceNotFoundException", retryable=False), 500),
        (ConditionFailed("x", code="ConditionalCheckFailed", retryable=False), 500),
        (AnswerLost("x"), 502),
        (CompletionInvalid("x"), 403),
        (CompletionExpired("x"), 400),
        (CompletionUsed("x"), 409),
        (RuntimeError("a bug"), 500),
    ],
)
def test_each_error_becomes_a_page_with_its_status(error: Exception, status: int) -> None:
    response = error_response(error)
    assert response.status_code == status
    assert "<h1>" in str(response.body)
    assert "a bug" not in str(response.body)  # internal messages never reach the page


def test_the_expired_token_page_sends_the_buyer_back_to_marketplace() -> None:
    _, title, advice = ERROR_PAGES[ExpiredToken]
    assert "Set up your account" in advice
    assert "expired" in title.lower()
