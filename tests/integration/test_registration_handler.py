"""The registration handler end to end in-process: proxy events as API Gateway sends them, DynamoDB Local,
and the Marketplace emulator over HTTP through an unmodified boto3 client."""

from __future__ import annotations

import base64
import json
import logging
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.customers.model import CustomerRef, SubscriptionState
from functions.marketplace.customers import MarketplaceResolver
from functions.observability import logger
from functions.registration import signing
from functions.registration.resolution import MarketplaceUnavailable
from functions.seller_events import CUSTOMER_REGISTERED, RecordingPublisher
from functions.settings import Settings, get_settings
from functions.wiring import registration as registration_wiring
from local.marketplace.testing import EmulatorHandle
from tests.integration.registration_world import (
    BUYER,
    FORM,
    LEGACY_PRODUCT,
    LICENSE_PRODUCT,
    REDIRECT_PRODUCT,
    SECRET,
    Harness,
    assert_secure_page,
    completion_value,
    exchange,
    header,
    post_link,
    registration_harness,
    seller_signup,
)

# what a free-trial buyer's browser adds to the form: and what anyone else's can add too
CLAIMS_FREE_TRIAL = {"x-amzn-marketplace-offer-type": "free-trial"}
XSS = "<script>alert('x')</script>\"'&"


@pytest.fixture(params=["reusable-tokens", "single-use-tokens"])
def harness(
    request: pytest.FixtureRequest,
    marketplace: EmulatorHandle,
    dynamodb: Any,
    handler_environment: Callable[..., Settings],
) -> Harness:
    # AWS's sources disagree: a token resolves again until it expires (2026 metering guidance, the emulator's
    # default), or a resubmitted token is ExpiredTokenException (the API reference): every test runs under both
    single_use = request.param == "single-use-tokens"
    return registration_harness(marketplace, dynamodb, handler_environment, single_use_tokens=single_use)


def assert_nothing_stored(harness: Harness) -> None:
    assert harness.items(harness.settings.customers_table) == []
    assert harness.items(harness.settings.idempotency_table) == []


def test_a_buyer_registers_and_completes_the_form(harness: Harness) -> None:
    # Given a confirmed subscription and the token Marketplace hands the buyer's browser
    subscription = harness.subscribe()
    # When the browser posts it to the fulfillment URL
    response = harness.register(subscription["registration_token"])
    # Then the onboarding page names the product and the customer is stored, pending
    assert response["statusCode"] == 200, response["body"]
    assert_secure_page(response)
    assert "Acme Analytics" in response["body"]
    assert subscription["registration_token"] not in response["body"]
    ref = CustomerRef(LICENSE_PRODUCT, license_arn=subscription["license_arn"])
    customer = harness.customers().get(ref)
    assert customer is not None
    assert customer.customer_aws_account_id == BUYER
    assert customer.agreement_id == subscription["agreement_id"]
    assert customer.state is SubscriptionState.PENDING
    assert customer.free_trial is False
    assert customer.registered_at is not None
    # When the buyer completes the form
    done = harness.complete(
        completion_value(response["body"]), company="Acme", contact_name="Ada", email="ada@example.com"
    )
    # Then the confirmation shows the details and they are stored on that customer
    assert done["statusCode"] == 200, done["body"]
    assert_secure_page(done)
    assert "ada@example.com" in done["body"]
    stored = harness.customers().get(ref)
    assert stored is not None
    assert harness.customers().contact(ref) == {"company": "Acme", "contact_name": "Ada", "email": "ada@example.com"}
    assert stored.state is SubscriptionState.PENDING
    # kept apart: the customer's own item holds no personal data
    (item,) = [i for i in harness.items(harness.settings.customers_table) if i["sk"]["S"] == "CUSTOMER"]
    assert not {"contact", "company", "email"} & set(item)
    assert "ada@example.com" not in json.dumps(item)
    # When the same completed form is sent again (a replay), with other details
    replay = harness.complete(
        completion_value(response["body"]), company="Mallory", contact_name="Eve", email="eve@example.com"
    )
    # Then it changes nothing, and says so
    assert replay["statusCode"] == 409
    assert "already" in replay["body"]
    assert harness.customers().contact(ref) == {"company": "Acme", "contact_name": "Ada", "email": "ada@example.com"}


def test_only_the_fields_the_seller_lists_are_asked_for_and_stored(
    harness: Harness, handler_environment: Callable[..., Settings]
) -> None:
    # Given a seller whose cdk.json asks for a team name (at most 12 characters) and an optional billing address
    fields = [
        {"name": "team", "label": "Team name", "max_length": 12},
        {"name": "billing_email", "label": "Billing email", "kind": "email", "required": False},
    ]
    products = [{"code": LICENSE_PRODUCT, "name": "Acme Analytics", "dimensions": [{"name": "api_calls"}]}]
    handler_environment(products, SIGNING_SECRET=SECRET, CONTACT_FIELDS=json.dumps(fields))
    subscription = harness.subscribe()
    page = harness.register(subscription["registration_token"])
    # Then the form asks for exactly those
    assert page["statusCode"] == 200, page["body"]
    assert 'name="team"' in page["body"]
    assert 'maxlength="12"' in page["body"]
    assert 'name="company"' not in page["body"]
    ref = CustomerRef(LICENSE_PRODUCT, license_arn=subscription["license_arn"])
    # When a value is over its bound, the form comes back naming it and nothing is stored
    too_long = harness.complete(completion_value(page["body"]), team="A" * 13)
    assert too_long["statusCode"] == 422
    assert "Team name must be at most 12 characters." in too_long["body"]
    assert harness.customers().contact(ref) == {}
    # When the browser also posts fields the seller did not ask for
    done = harness.complete(completion_value(page["body"]), team="Platform", company="Acme", phone="+1 555 0100")
    # Then only the seller's fields are kept
    assert done["statusCode"] == 200, done["body"]
    assert harness.customers().contact(ref) == {"team": "Platform"}
    assert "Acme" not in json.dumps(harness.items(harness.settings.contacts_table))


def registered_announcements() -> list[dict[str, Any]]:
    """The "Customer Registered" events published (no bus in tests: the publisher records them)."""
    publisher = registration_wiring.build(get_settings()).registrations.publisher
    assert isinstance(publisher, RecordingPublisher)
    return [event.detail for event in publisher.events if event.detail_type == CUSTOMER_REGISTERED]


def signup_claims(harness: Harness, response: dict[str, Any]) -> dict[str, Any]:
    """What the seller's back end gets for the buyer sent to its sign-up page: the sign-up exchange's claims."""
    return seller_signup(harness, response)


def agreement_terms_calls(harness: Harness) -> list[dict[str, Any]]:
    return list(harness.marketplace.admin.calls(operation="GetAgreementTerms"))


def test_a_paid_buyer_whose_browser_claims_a_free_trial_is_registered_as_paid(harness: Harness) -> None:
    # Given a paid subscription, and a browser that adds the free-trial offer type to Marketplace's form post
    paid = harness.subscribe()
    # When it registers
    response = harness.register(paid["registration_token"], **CLAIMS_FREE_TRIAL)
    # Then the buyer is registered, and the page does not promise a free trial
    assert response["statusCode"] == 200, response["body"]
    assert "free trial" not in response["body"].lower()
    # and Marketplace was asked about the agreement
    assert [c["http_status"] for c in agreement_terms_calls(harness)] == [200]
    # and the customer is stored, and announced, with the claim kept apart from what Marketplace confirmed
    customer = harness.customers().get(CustomerRef(LICENSE_PRODUCT, license_arn=paid["license_arn"]))
    assert customer is not None
    assert (customer.free_trial, customer.free_trial_claimed) == (False, True)
    (announced,) = registered_announcements()
    assert (announced["agreement_id"], announced["free_trial"], announced["free_trial_claimed"]) == (
        paid["agreement_id"],
        False,
        True,
    )
    # When a paid buyer of a product with its own sign-up page does the same
    redirected = harness.subscribe(REDIRECT_PRODUCT)
    claims = signup_claims(harness, harness.register(redirected["registration_token"], **CLAIMS_FREE_TRIAL))
    # Then the value signed for the seller's page does not say free trial, and carries no claim at all
    assert claims["agreement_id"] == redirected["agreement_id"]
    assert claims["free_trial"] is False
    assert not any("claim" in name for name in claims)


def test_a_real_free_trial_is_confirmed_by_the_agreement_read_to_its_last_page(harness: Harness) -> None:
    # Given a free-trial subscription, and a Marketplace that answers one term per page (the free trial comes last)
    harness.marketplace.admin.put_config(agreement_terms_page_size=1)
    trial = harness.subscribe(free_trial=True)
    # When the buyer's browser registers it
    response = harness.register(trial["registration_token"], **CLAIMS_FREE_TRIAL)
    # Then every page was read (legal, pricing and validity terms, then the free trial) and the trial is confirmed
    assert len(agreement_terms_calls(harness)) == 4
    assert response["statusCode"] == 200, response["body"]
    assert "Your free trial has started." in response["body"]
    customer = harness.customers().get(CustomerRef(LICENSE_PRODUCT, license_arn=trial["license_arn"]))
    assert customer is not None
    assert (customer.free_trial, customer.free_trial_claimed) == (True, True)
    (announced,) = registered_announcements()
    assert (announced["free_trial"], announced["free_trial_claimed"]) == (True, True)
    # and a free trial is one whether or not the browser said so: the seller's sign-up value says it
    redirected = harness.subscribe(REDIRECT_PRODUCT, free_trial=True)
    claims = signup_claims(harness, harness.register(redirected["registration_token"]))
    assert claims["free_trial"] is True


@pytest.mark.parametrize(
    ("failure", "attempts", "reason"),
    [
        ("ThrottlingException", 2, "ThrottlingException"),
        ("InternalServerException", 2, "InternalServerException"),
        ("LostResponse", 2, "ConnectionClosedError"),  # no answer at all: botocore gives up on the connection
        # the seller is no party to a channel partner's agreement: denied, and not retried
        ("channel-partner", 1, "AccessDeniedException"),
    ],
)
def test_when_marketplace_cannot_say_the_buyer_registers_and_the_free_trial_stays_a_claim(
    harness: Harness, failure: str, attempts: int, reason: str, capsys: pytest.CaptureFixture[str], caplog: Any
) -> None:
    # Given a free-trial subscription whose terms cannot be read
    if failure == "channel-partner":
        trial = harness.subscribe(free_trial=True, proposer_account_id="999988887777")
    else:
        trial = harness.subscribe(free_trial=True)
        harness.marketplace.admin.queue_errors({"operation": "GetAgreementTerms", "code": failure, "count": 2})
    # When the buyer registers
    response = harness.register(trial["registration_token"], **CLAIMS_FREE_TRIAL)
    # Then the registration goes through, without promising a free trial nobody confirmed
    assert response["statusCode"] == 200, response["body"]
    assert "free trial" not in response["body"].lower()
    customer = harness.customers().get(CustomerRef(LICENSE_PRODUCT, license_arn=trial["license_arn"]))
    assert customer is not None
    assert (customer.free_trial, customer.free_trial_claimed) == (False, True)
    (announced,) = registered_announcements()
    assert (announced["free_trial"], announced["free_trial_claimed"]) == (False, True)
    # after a bounded number of tries, logged and counted with the reason
    assert len(agreement_terms_calls(harness)) == attempts
    assert harness.marketplace.admin.get_faults()["next_errors"] == []
    (warning,) = [r for r in caplog.records if "agreement terms not read" in r.getMessage()]
    assert warning.getMessage() == "agreement terms not read: the free trial stays unconfirmed"
    assert (warning.__dict__["reason"], warning.__dict__["agreement_id"]) == (reason, trial["agreement_id"])
    metrics = capsys.readouterr().out  # the registration's metrics, as CloudWatch embedded metric format
    assert '"AgreementTermsUnavailable":[1.0]' in metrics
    assert trial["registration_token"] not in metrics + caplog.text


def test_a_legacy_product_keys_the_customer_by_its_identifier(harness: Harness) -> None:
    subscription = harness.subscribe(LEGACY_PRODUCT)
    assert harness.register(subscription["registration_token"])["statusCode"] == 200
    customer = harness.customers().get(
        CustomerRef(LEGACY_PRODUCT, customer_identifier=subscription["customer_identifier"])
    )
    assert customer is not None
    assert customer.legacy_license_arn == subscription["license_arn"]
    assert customer.customer_aws_account_id == BUYER


def test_a_refresh_replays_the_first_answer_without_spending_the_token_again(harness: Harness) -> None:
    # Given a registration that went through
    subscription = harness.subscribe()
    token = subscription["registration_token"]
    first = harness.register(token)
    # When the browser resubmits the same token (reload, double click)
    again = harness.register(token)
    # Then the buyer sees the same onboarding page, and Marketplace was asked once
    assert first["statusCode"] == again["statusCode"] == 200
    assert "Acme Analytics" in again["body"]
    resolves = harness.marketplace.admin.calls(operation="ResolveCustomer")
    assert len([c for c in resolves if c["operation"] == "ResolveCustomer"]) == 1
    assert len(harness.items(harness.settings.customers_table)) == 1
    # and the idempotency record holds a hash of the token, never the token
    assert token not in json.dumps(harness.items(harness.settings.idempotency_table))
    assert token not in json.dumps(harness.items(harness.settings.customers_table))


def test_registering_again_later_keeps_a_confirmed_state(harness: Harness) -> None:
    # Given a registered customer the lifecycle has since confirmed
    subscription = harness.subscribe()
    harness.register(subscription["registration_token"])
    repository = harness.customers()
    ref = CustomerRef(LICENSE_PRODUCT, license_arn=subscription["license_arn"])
    first = repository.get(ref)
    assert first is not None
    activated_at = datetime(2030, 1, 1, tzinfo=UTC)
    repository.put(
        type(first)(**{**first.__dict__, "state": SubscriptionState.ACTIVE, "state_changed_at": activated_at})
    )
    # When the buyer registers again with a fresh token
    token = harness.marketplace.admin.issue_token(subscription["agreement_id"])["registration_token"]
    assert harness.register(token)["statusCode"] == 200
    # Then the state, its time and the first registration time are kept
    again = repository.get(ref)
    assert again is not None
    assert again.state is SubscriptionState.ACTIVE
    assert again.state_changed_at == activated_at
    assert again.registered_at == first.registered_at


def test_a_product_with_a_signup_url_redirects_with_a_value_only_the_seller_can_exchange(harness: Harness) -> None:
    subscription = harness.subscribe(REDIRECT_PRODUCT)
    response = harness.register(subscription["registration_token"])
    assert response["statusCode"] == 303
    assert_secure_page(response)
    location = header(response, "Location")
    parts = urllib.parse.urlsplit(location)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "seller.example", "/signup")
    query = urllib.parse.parse_qs(parts.query)
    assert query["source"] == ["marketplace"]
    value = query[signing.SIGNUP_PARAMETER][0]
    assert exchange(harness, value, secret="another secret")["statusCode"] == 403
    claims = seller_signup(harness, response)
    assert claims["license_arn"] == subscription["license_arn"]
    assert claims["customer_aws_account_id"] == BUYER


def test_the_sellers_sign_up_page_links_the_buyer_to_its_tenant_and_only_it_can(harness: Harness) -> None:
    # Given a buyer sent to the seller's sign-up page, whose back end exchanged the value it was sent
    subscription = harness.subscribe(REDIRECT_PRODUCT)
    claims = seller_signup(harness, harness.register(subscription["registration_token"]))
    ref = CustomerRef(REDIRECT_PRODUCT, license_arn=subscription["license_arn"])
    now = datetime.now(UTC).timestamp()  # the handler's clock (no clock file: the real one)
    # When a link not made with the seller's secret, an expired one or one naming no valid tenant id arrives
    forged = signing.tenant_link(claims, "acme-42", "another secret", now=now)
    expired = signing.tenant_link(claims, "acme-42", SECRET, now=now - signing.TENANT_LINK_TTL_SECONDS - 1)
    spaced = signing.tenant_link(claims, "acme 42", SECRET, now=now)
    for value, status, says in [
        (forged, 400, "Link not valid"),
        (expired, 400, "Link not valid"),
        (spaced, 400, "Link not valid"),
    ]:
        refused = post_link(harness, value)
        assert refused["statusCode"] == status, refused["body"]
        assert says in refused["body"]
    # Then nothing was linked
    customer = harness.customers().get(ref)
    assert customer is not None
    assert customer.tenant_id is None
    # When the page, having created the buyer's account, posts its own signed link
    linked = post_link(harness, signing.tenant_link(claims, "acme-42", SECRET, now=now))
    assert linked["statusCode"] == 200, linked["body"]
    # Then the customer carries the tenant, and the tenant finds the customer
    customer = harness.customers().get(ref)
    assert customer is not None
    assert customer.tenant_id == "acme-42"
    assert [c.ref for c in harness.customers().of_tenant("acme-42")] == [ref]
    # And a link is used once: the same link again is done already (the seller's retry of a lost answer), another
    # link of the same exchange is refused, and neither changes anything
    assert post_link(harness, signing.tenant_link(claims, "acme-42", SECRET, now=now))["statusCode"] == 200
    reposted = post_link(harness, signing.tenant_link(claims, "mallory-7", SECRET, now=now))
    assert reposted["statusCode"] == 409
    assert "used already" in reposted["body"]
    assert [c.ref for c in harness.customers().of_tenant("acme-42")] == [ref]
    # And a link to another tenant, after a new sign-up, does not move it (an operator can: cli set-tenant --replace)
    token = harness.marketplace.admin.issue_token(subscription["agreement_id"])["registration_token"]
    again = seller_signup(harness, harness.register(token))
    moved = post_link(harness, signing.tenant_link(again, "other-7", SECRET, now=now))
    assert moved["statusCode"] == 409
    assert "linked to another account" in moved["body"]
    assert harness.customers().of_tenant("other-7") == []
    # And a link for a buyer who never registered is a 404
    stranger = {**again, "license_arn": subscription["license_arn"] + "0"}
    assert post_link(harness, signing.tenant_link(stranger, "acme-42", SECRET, now=now))["statusCode"] == 404


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        ("", FORM, 400, "arrived empty"),
        ("x-amzn-marketplace-offer-type=free-trial", FORM, 400, "Registration token missing"),
        ("x-amzn-marketplace-token=", FORM, 400, "Registration token missing"),
        ("x-amzn-marketplace-token=a%20b", FORM, 400, "Registration token not valid"),
        ("x-amzn-marketplace-token=a&x-amzn-marketplace-token=b", FORM, 400, "sent more than once"),
        ("x-amzn-marketplace-token=" + "a" * 20000, FORM, 413, "larger than"),
        ('{"x-amzn-marketplace-token": "abc"}', "application/json", 415, FORM),
        ("x-amzn-marketplace-token=not-a-real-token", FORM, 400, "did not recognise it"),
        (b"x-amzn-marketplace-token=\xff\xfe", FORM, 400, "x-amzn-marketplace-token is not UTF-8 text"),
    ],
)
def test_a_bad_registration_request_gets_a_clear_page_and_stores_nothing(
    harness: Harness, body: str | bytes, content_type: str, status: int, says: str
) -> None:
    response = harness.post("/register", body, content_type)
    assert response["statusCode"] == status
    assert says in response["body"]
    assert_secure_page(response)
    assert_nothing_stored(harness)


def test_get_explains_the_fulfillment_url(harness: Harness) -> None:
    response = harness.get("/register")
    assert response["statusCode"] == 405
    assert header(response, "Allow") == "POST"
    assert "fulfillment address" in response["body"]
    assert_secure_page(response)
    assert_nothing_stored(harness)


def test_an_expired_token_tells_the_buyer_to_start_again(harness: Harness) -> None:
    subscription = harness.subscribe()
    ttl = harness.marketplace.admin.get_config()["token_ttl_seconds"]
    harness.marketplace.admin.advance_clock(ttl + 1)
    response = harness.register(subscription["registration_token"])
    assert response["statusCode"] == 400
    assert "expired" in response["body"]
    assert "Set up your account" in response["body"]
    assert_nothing_stored(harness)


def test_a_lost_resolve_customer_answer_is_retried_or_named_an_outage_never_an_expired_link(harness: Harness) -> None:
    # Given Marketplace resolves the token but its answer never reaches us (the connection drops)
    subscription = harness.subscribe()
    harness.marketplace.admin.queue_errors({"operation": "ResolveCustomer", "code": "LostResponse"})
    # When the buyer's registration arrives
    response = harness.register(subscription["registration_token"])
    assert len(harness.marketplace.admin.calls(operation="ResolveCustomer")) == 2  # the lost one, and our retry
    if not harness.single_use_tokens:
        # Then, where a token resolves again until it expires (AWS's 2026 guidance), the retry registers the buyer
        assert response["statusCode"] == 200
        assert harness.customers().get(CustomerRef(LICENSE_PRODUCT, license_arn=subscription["license_arn"]))
        return
    # Then, where it resolves only once, the buyer is told it was an interruption, not an expired link, nothing is
    # stored, and it counts as an outage (a 5xx, which the API's 5xx alarm watches)
    assert response["statusCode"] == 502
    assert "Registration interrupted" in response["body"]
    assert "expired" not in response["body"]
    assert "Set up your account" in response["body"]
    assert_nothing_stored(harness)


def test_throttling_after_every_retry_is_a_503_and_stores_nothing(harness: Harness) -> None:
    subscription = harness.subscribe()
    harness.marketplace.admin.queue_errors(*[{"operation": "ResolveCustomer", "code": "ThrottlingException"}] * 4)
    response = harness.register(subscription["registration_token"])
    assert response["statusCode"] == 503
    assert "Try again" in response["body"]
    assert_nothing_stored(harness)
    # and the token was not spent: the buyer's retry succeeds
    assert harness.register(subscription["registration_token"])["statusCode"] == 200


def test_the_resolver_retries_throttling_and_errors_with_growing_jittered_backoff(
    harness: Harness, marketplace: EmulatorHandle
) -> None:
    subscription = harness.subscribe()
    marketplace.admin.queue_errors(
        {"operation": "ResolveCustomer", "code": "ThrottlingException"},
        {"operation": "ResolveCustomer", "code": "InternalServiceErrorException"},
    )
    waits: list[float] = []
    resolver = MarketplaceResolver(
        marketplace.metering(max_attempts=1), sleep=waits.append, jitter=lambda low, high: high
    )
    resolved = resolver.resolve(subscription["registration_token"])
    assert resolved.license_arn == subscription["license_arn"]
    assert waits == [0.1, 0.2]
    marketplace.admin.queue_errors(*[{"operation": "ResolveCustomer", "code": "InternalServiceErrorException"}] * 4)
    with pytest.raises(MarketplaceUnavailable):
        resolver.resolve("any-token")


def test_a_tampered_or_expired_completion_value_is_refused(harness: Harness) -> None:
    subscription = harness.subscribe()
    page = harness.register(subscription["registration_token"])["body"]
    value = completion_value(page)
    fields = {"company": "Acme", "contact_name": "Ada", "email": "ada@example.com"}
    # another customer's licence in the claims, the signature unchanged
    payload, _, mac = value.partition(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    changed = json.dumps({**claims, "license_arn": "arn:aws:license-manager::1:license:l-x"}).encode()
    forged = base64.urlsafe_b64encode(changed).rstrip(b"=").decode()  # the value's own encoding, by hand
    for tampered in (f"{forged}.{mac}", value[:-2], "", "garbage"):
        response = harness.complete(tampered, **fields)
        assert response["statusCode"] == 403, tampered
        assert "not issued for your subscription" in response["body"]
    expired = signing.sign(claims, secret=SECRET, purpose=signing.COMPLETION, expires_at=1_000_000)
    response = harness.complete(expired, **fields)
    assert response["statusCode"] == 400
    assert "Form expired" in response["body"]
    ref = CustomerRef(LICENSE_PRODUCT, license_arn=subscription["license_arn"])
    assert harness.customers().get(ref) is not None
    assert harness.customers().contact(ref) == {}


def test_missing_or_malformed_fields_reshow_the_form_with_the_errors(harness: Harness) -> None:
    subscription = harness.subscribe()
    value = completion_value(harness.register(subscription["registration_token"])["body"])
    response = harness.complete(value, company="", contact_name="Ada", email="not-an-email", phone="abc")
    assert response["statusCode"] == 422
    body = response["body"]
    assert "Company is required." in body
    assert "Email must be an address" in body
    assert "Phone may contain only digits" in body
    assert 'value="not-an-email"' in body
    assert completion_value(body) == value
    assert_secure_page(response)
    ref = CustomerRef(LICENSE_PRODUCT, license_arn=subscription["license_arn"])
    assert harness.customers().get(ref) is not None
    assert harness.customers().contact(ref) == {}


def test_what_the_buyer_types_comes_back_escaped_in_every_page(harness: Harness) -> None:
    subscription = harness.subscribe()
    value = completion_value(harness.register(subscription["registration_token"])["body"])
    # an invalid email with the payload everywhere: the 422 page shows every field back
    reshown = harness.complete(value, company=XSS, contact_name=XSS, email=XSS, phone=XSS)
    assert reshown["statusCode"] == 422
    assert "<script>" not in reshown["body"]
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&quot;&#x27;&amp;" in reshown["body"]
    # valid values still carrying markup: the confirmation shows them escaped
    done = harness.complete(value, company=XSS, contact_name=XSS, email="a<b>@example.com", phone="+1 (555) 0100")
    assert done["statusCode"] == 200, done["body"]
    assert "<script>" not in done["body"]
    assert "<b>" not in done["body"]
    assert "a&lt;b&gt;@example.com" in done["body"]


def test_the_token_is_never_logged_even_in_debug_mode(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: Any
) -> None:
    # Given every switch that would log or print events turned on
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    monkeypatch.setenv("POWERTOOLS_DEV", "true")
    monkeypatch.setenv("POWERTOOLS_EVENT_HANDLER_DEBUG", "true")
    # (botocore's own DEBUG logging prints request bodies, as it does for every AWS call: it stays at the
    # Lambda's application log level, INFO, and is not ours to test)
    caplog.set_level(logging.DEBUG, logger="aws_lambda_powertools")
    logger.setLevel(logging.DEBUG)
    try:
        good = harness.subscribe()["registration_token"]
        harness.register(good)
        harness.register(good)  # the replay
        harness.register("bogus-token-value-123")
        harness.subscribe(LEGACY_PRODUCT)
    finally:
        logger.setLevel(logging.INFO)
    captured = capsys.readouterr()
    output = captured.out + captured.err + caplog.text
    assert "registration refused" in output  # the logs were captured at all
    assert good not in output
    assert "bogus-token-value-123" not in output
