"""The registration domain with in-memory fakes of our own interfaces."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.handlers.registration import ERROR_PAGES, error_response
from functions.registration.events import (
    CUSTOMER_ACTIVATED,
    CUSTOMER_DETAILS_SUBMITTED,
    CUSTOMER_REGISTERED,
    PublishFailed,
    RecordingPublisher,
)
from functions.registration.marketplace import (
    AnswerLost,
    ExpiredToken,
    InvalidToken,
    MarketplaceUnavailable,
    ResolvedCustomer,
)
from functions.registration.service import (
    CompletionExpired,
    CompletionInvalid,
    CompletionUsed,
    FormInvalid,
    MalformedToken,
    MissingToken,
    Registrations,
)
from functions.settings import Dimension, Product
from functions.storage.errors import ConditionFailed, StorageError

PRODUCT = Product(code="prod1", name="Acme", dimensions=(Dimension(name="api_calls"),))
RESOLVED = ResolvedCustomer("prod1", "111122223333", "arn:aws:license-manager::1:license:l-1", None, "agmt-1")
CONTACT = {"company": ["Acme"], "contact_name": ["Ada"], "email": ["ada@example.com"]}


class FakeResolver:
    def __init__(self, outcome: ResolvedCustomer | Exception) -> None:
        self.outcome = outcome
        self.tokens: list[str] = []

    def resolve(self, token: str) -> ResolvedCustomer:
        self.tokens.append(token)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


class FakeStore:
    def __init__(self) -> None:
        self.customers: dict[str, Customer] = {}
        self.nonces: dict[str, str] = {}

    def upsert_registration(self, registration: Customer, completion_nonce: str) -> Customer:
        self.nonces[registration.ref.key] = completion_nonce
        stored = self.customers.setdefault(registration.ref.key, registration)
        return dataclasses.replace(
            registration,
            state=stored.state,
            state_changed_at=stored.state_changed_at,
            registered_at=stored.registered_at,
            announced_activation=stored.announced_activation,
        )

    def set_contact(self, ref: CustomerRef, contact: dict[str, str], completion_nonce: str) -> Customer | None:
        if ref.key not in self.customers:
            raise ConditionFailed("none", code="ConditionalCheckFailed", retryable=False)
        if self.nonces.pop(ref.key, None) != completion_nonce:
            return None
        self.customers[ref.key] = dataclasses.replace(self.customers[ref.key], contact=contact)
        return self.customers[ref.key]

    def mark_announced(self, ref: CustomerRef, attribute: str, at: datetime) -> bool:
        assert attribute == "announced_activation"
        self.customers[ref.key] = dataclasses.replace(self.customers[ref.key], announced_activation=at)
        return True


class FailingPublisher:
    def publish(self, event: Any) -> None:
        raise PublishFailed("bus down")


def registrations(resolver: FakeResolver, **changes: Any) -> Registrations:
    defaults: dict[str, Any] = {
        "resolver": resolver,
        "customers": FakeStore(),
        "publisher": RecordingPublisher(),
        "clock": ManualClock(datetime(2026, 11, 26, 10, tzinfo=UTC)),
        "signing_secret": lambda: "secret",
        "products": (PRODUCT,),
        "completion_ttl_seconds": 600,
    }
    return Registrations(**{**defaults, **changes})


def test_register_stores_publishes_and_signs_a_completion_bound_to_the_customer() -> None:
    service = registrations(FakeResolver(RESOLVED))
    registered = service.register("tok", free_trial=True)
    assert registered.product_name == "Acme"
    assert registered.free_trial is True
    assert registered.redirect_url is None
    publisher = service.publisher
    assert isinstance(publisher, RecordingPublisher)
    assert [e.detail_type for e in publisher.events] == [CUSTOMER_REGISTERED]
    assert publisher.events[0].detail["license_arn"] == RESOLVED.license_arn
    completed = service.complete(registered.completion_value, CONTACT)
    assert completed.customer.contact == {"company": "Acme", "contact_name": "Ada", "email": "ada@example.com"}
    assert publisher.events[-1].detail_type == CUSTOMER_DETAILS_SUBMITTED


def test_a_subscription_confirmed_before_registration_is_announced_once_on_registration() -> None:
    # Given a buyer whose subscription was confirmed (lifecycle events) before they registered
    store = FakeStore()
    ref = CustomerRef("prod1", license_arn=RESOLVED.license_arn)
    confirmed_at = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    store.customers[ref.key] = Customer(
        ref=ref, customer_aws_account_id="111122223333", state=SubscriptionState.ACTIVE, state_changed_at=confirmed_at
    )
    service = registrations(FakeResolver(RESOLVED), customers=store)
    # When they register, and register again
    service.register("tok", free_trial=False)
    service.register("tok-2", free_trial=False)
    # Then "Customer Activated" went out once, remembered with the confirmation time
    publisher = service.publisher
    assert isinstance(publisher, RecordingPublisher)
    assert [e.detail_type for e in publisher.events] == [CUSTOMER_REGISTERED, CUSTOMER_ACTIVATED, CUSTOMER_REGISTERED]
    assert store.customers[ref.key].announced_activation == confirmed_at


@pytest.mark.parametrize(("token", "error"), [(None, MissingToken), ("", MissingToken), ("a b", MalformedToken)])
def test_a_missing_or_malformed_token_never_reaches_marketplace(token: str | None, error: type[Exception]) -> None:
    resolver = FakeResolver(RESOLVED)
    with pytest.raises(error):
        registrations(resolver).register(token, free_trial=False)
    assert resolver.tokens == []


@pytest.mark.parametrize("failure", [InvalidToken("x"), ExpiredToken("x"), MarketplaceUnavailable("x")])
def test_a_refused_token_stores_and_publishes_nothing(failure: Exception) -> None:
    service = registrations(FakeResolver(failure))
    with pytest.raises(type(failure)):
        service.register("tok", free_trial=False)
    assert isinstance(service.customers, FakeStore)
    assert service.customers.customers == {}
    assert isinstance(service.publisher, RecordingPublisher)
    assert service.publisher.events == []


def test_a_failed_event_does_not_fail_the_registration() -> None:
    service = registrations(FakeResolver(RESOLVED), publisher=FailingPublisher())
    assert service.register("tok", free_trial=False).product_name == "Acme"


def test_a_completion_value_expires_and_cannot_be_forged() -> None:
    clock = ManualClock(datetime(2026, 11, 26, 10, tzinfo=UTC))
    service = registrations(FakeResolver(RESOLVED), clock=clock)
    value = service.register("tok", free_trial=False).completion_value
    with pytest.raises(CompletionInvalid):
        registrations(FakeResolver(RESOLVED), signing_secret=lambda: "other").complete(value, CONTACT)
    clock.advance(timedelta(seconds=600))
    with pytest.raises(CompletionExpired):
        service.complete(value, CONTACT)


def test_an_invalid_form_is_returned_with_its_values() -> None:
    service = registrations(FakeResolver(RESOLVED))
    value = service.register("tok", free_trial=False).completion_value
    with pytest.raises(FormInvalid) as raised:
        service.complete(value, {"company": ["<b>"], "email": ["x"]})
    assert raised.value.form.values["company"] == "<b>"
    assert set(raised.value.form.errors) == {"contact_name", "email"}
    assert raised.value.completion_value == value


def test_a_signup_redirect_carries_the_signed_parameter() -> None:
    product = dataclasses.replace(PRODUCT, signup_redirect_url="https://seller.example/s?a=1")
    registered = registrations(FakeResolver(RESOLVED), products=(product,)).register("tok", free_trial=False)
    assert registered.redirect_url is not None
    assert registered.redirect_url.startswith("https://seller.example/s?a=1&x-marketplace-registration=")


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
