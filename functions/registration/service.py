"""Registering a buyer: resolve the token once, store the customer, bind the next step to it by signature.

A free trial is what AWS Marketplace says, never what the browser says: ``x-amzn-marketplace-offer-type=free-trial``
arrives with the buyer's form post, so anyone can add it. It is kept as the customer's ``free_trial_claimed``; the
customer's ``free_trial`` is the agreement's terms (GetAgreementTerms) or a legacy subscribe-success, and only that is
shown on the page and signed into the seller's sign-up value.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

from functions.clock import Clock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.observability import logger, metrics
from functions.registration import signing
from functions.registration.claims import UnknownCustomer, claimed_ref, ref_claims
from functions.registration.event_retries import SellerEventRetries
from functions.registration.forms import ContactForm, parse_contact_form
from functions.registration.free_trial import Check, FreeTrialChecks
from functions.registration.resolution import (
    AgreementTerms,
    AgreementTermsUnavailable,
    CustomerResolver,
    MarketplaceRejected,
    ResolvedCustomer,
)
from functions.registration.seller_signup import signup_value
from functions.seller_events import (
    CUSTOMER_ACTIVATED,
    CUSTOMER_DETAILS_SUBMITTED,
    CUSTOMER_REGISTERED,
    DomainEvent,
    EventPublisher,
    PublishFailed,
    identified,
)
from functions.settings import DEFAULT_CONTACT_FIELDS, ContactField, Product
from functions.storage.errors import ConditionFailed

# Opaque to us; AWS's are a few hundred URL-safe characters. Anything else is refused before calling AWS.
REGISTRATION_TOKEN = re.compile(r"^[\x21-\x7e]{1,4096}$")


class RegistrationStore(Protocol):
    def upsert_registration(self, registration: Customer, completion_nonce: str) -> Customer:
        """Where the agreement's terms could not be read (``registration.free_trial_known_at`` is None), the free
        trial already stored stays as it is."""
        ...

    def clear_erasure(self, ref: CustomerRef) -> None:
        """A token resolved afresh since an erasure: the customer's sign-up value may be started again."""
        ...

    def set_contact(self, ref: CustomerRef, contact: dict[str, str], completion_nonce: str) -> Customer | None:
        """None if that completion was used already (or a later registration replaced it); ConditionFailed if
        there is no such customer."""
        ...

    def mark_announced(self, ref: CustomerRef, attribute: str, at: datetime) -> bool:
        """Remember the announcement of the lifecycle time ``at`` (made): False if it was remembered already."""
        ...

    def start_signup(self, ref: CustomerRef, nonce: str) -> None:
        """The sign-up value ``nonce`` names is the one it may exchange; ConditionFailed if no customer."""
        ...


# the kept ResolveCustomer answer's id of that resolution (random): the registration's fact, for its event_id
RESOLUTION_ID = "resolution_id"

# Runs ``function(request)`` at most once per registration token (Powertools idempotency in production).
RunOnce = Callable[[Callable[[dict[str, Any]], dict[str, Any]], dict[str, Any]], dict[str, Any]]


def run_every_time(function: Callable[[dict[str, Any]], dict[str, Any]], request: dict[str, Any]) -> dict[str, Any]:
    return function(request)


@dataclass
class RememberedInProcess:
    """A RunOnce keeping each answer in this process, by the SHA-256 of the request's token (never the token): what the
    resolve step needs where no idempotency table is given (production keeps it in the idempotency table)."""

    answers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __call__(self, function: Callable[[dict[str, Any]], dict[str, Any]], request: dict[str, Any]) -> dict[str, Any]:
        key = hashlib.sha256(str(request["token"]).encode()).hexdigest()
        if key not in self.answers:
            self.answers[key] = function(request)
        return self.answers[key]


class MissingToken(ValueError):
    pass


class MalformedToken(ValueError):
    pass


class RegistrationInProgress(RuntimeError):
    """The same token is being registered by another request right now (a double submit)."""


class CompletionInvalid(ValueError):
    """The form's signed value is not ours: altered or forged."""


class CompletionExpired(ValueError):
    pass


class CompletionUsed(ValueError):
    """The form was submitted already with this completion value (a replay changes nothing), a later registration
    replaced it, or the buyer's personal data were erased since it was issued."""


@dataclass(frozen=True)
class FormInvalid(ValueError):
    """The onboarding form has mistakes: shown again with them."""

    form: ContactForm
    product_name: str
    completion_value: str


@dataclass(frozen=True)
class Registered:
    """A token resolved and the buyer stored: the onboarding form comes next."""

    product_name: str
    completion_value: str
    free_trial: bool  # confirmed by AWS Marketplace
    redirect_url: str | None


@dataclass(frozen=True)
class Completed:
    """A registration completed: the buyer's onboarding form stored."""

    product_name: str
    customer: Customer
    contact: dict[str, str]  # what the form stored (in the contacts table, apart from the customer)


@dataclass
class Registrations:
    """Registration's rules: a token resolved to a stored buyer, then their onboarding form."""

    resolver: CustomerResolver
    agreement_terms: AgreementTerms
    customers: RegistrationStore
    publisher: EventPublisher
    clock: Clock
    signing_secret: Callable[[], str]
    products: tuple[Product, ...]
    completion_ttl_seconds: int
    contact_fields: tuple[ContactField, ...] = DEFAULT_CONTACT_FIELDS
    run_once: RunOnce = run_every_time
    # ResolveCustomer's answer, kept apart from the registration's: a token may resolve only once, so a registration
    # that failed after it (a throttled write: "try again in a minute") finishes on the retry with the answer kept
    resolve_once: RunOnce = field(default_factory=RememberedInProcess)
    # how long this invocation may still work before answering, and how long reading the agreement's terms may take:
    # without time for it, the free trial stays a claim, asked about again later (free_trial_checks)
    seconds_left: Callable[[], float] = lambda: math.inf
    agreement_terms_seconds: float = 0.0
    # where a free-trial claim Marketplace could not confirm now is asked about again later
    free_trial_checks: FreeTrialChecks | None = None
    # where a seller event that could not be published now is published again later (None: it is logged as lost)
    event_retries: SellerEventRetries | None = None

    def register(self, token: str | None, *, free_trial_claimed: bool) -> Registered:
        """The fulfillment URL's work. A resubmitted token replays the first answer without calling AWS.

        ``free_trial_claimed``: the browser's form said ``x-amzn-marketplace-offer-type=free-trial``."""
        if not token:
            raise MissingToken("x-amzn-marketplace-token is missing")
        if not REGISTRATION_TOKEN.fullmatch(token):
            raise MalformedToken("x-amzn-marketplace-token is malformed")
        stored = self.run_once(self._resolve_and_store, {"token": token, "free_trial_claimed": free_trial_claimed})
        free_trial = _confirmed_free_trial(stored)
        resolved = ResolvedCustomer(**{k: stored[k] for k in ResolvedCustomer.__dataclass_fields__})
        product = self._product(resolved.product_code)
        secret = self.signing_secret()
        redirect_url = None
        ref = _ref(resolved, product)
        if product is not None and product.signup_redirect_url:
            value = signup_value(self.customers, ref, secret, self.clock.now())
            redirect_url = _with_parameter(product.signup_redirect_url, signing.SIGNUP_PARAMETER, value)
        completion = signing.sign(
            # single use: completing the form spends it, and a later registration replaces it
            {**ref_claims(ref), "nonce": stored["completion_nonce"]},
            secret=secret,
            purpose=signing.COMPLETION,
            expires_at=self.clock.now().timestamp() + self.completion_ttl_seconds,
        )
        return Registered(
            product_name=product.name if product else resolved.product_code,
            completion_value=completion,
            free_trial=free_trial,
            redirect_url=redirect_url,
        )

    def _resolve_and_store(self, request: dict[str, Any]) -> dict[str, Any]:
        resolved_afresh: list[bool] = []

        def resolve(resolve_request: dict[str, Any]) -> dict[str, Any]:
            resolved_afresh.append(True)  # not when resolve_once answers from its kept record (a reload, a retry)
            return self._resolve(resolve_request)

        answer = self.resolve_once(resolve, {"token": request["token"]})
        resolved = ResolvedCustomer(**{k: answer[k] for k in ResolvedCustomer.__dataclass_fields__})
        product = self._product(resolved.product_code)
        if product is None:
            # Keep the buyer anyway: the token is spent, and the seller can add the product to the config.
            logger.warning("registration for a product not in the configuration", product_code=resolved.product_code)
        claimed = bool(request["free_trial_claimed"])
        free_trial = self._free_trial_terms(resolved.agreement_id, claimed)
        now = self.clock.now()
        ref = _ref(resolved, product)
        nonce = secrets.token_urlsafe(16)
        if resolved_afresh:
            # a new token, resolved after any erasure: this buyer's sign-up value may be started again. One resolved
            # before (its answer kept: a reload of an old page) never undoes an erasure. Cleared before storing, so a
            # retry after a failed store (resolved from the kept record) finds it cleared already.
            self.customers.clear_erasure(ref)
        customer = self.customers.upsert_registration(
            Customer(
                ref=ref,
                customer_aws_account_id=resolved.customer_aws_account_id,
                state=SubscriptionState.PENDING,
                state_changed_at=now,
                registered_at=now,
                agreement_id=resolved.agreement_id,
                agreement_linked_at=now if resolved.agreement_id else None,
                free_trial=bool(free_trial),
                free_trial_known_at=now if free_trial is not None else None,
                free_trial_claimed=claimed,
                legacy_license_arn=resolved.license_arn if ref.customer_identifier else None,
            ),
            nonce,
        )
        metrics.add_metric(name="CustomersRegistered", unit="Count", value=1)
        if claimed and customer.free_trial_known_at is None and customer.agreement_id and self.free_trial_checks:
            # the terms could not be read: asked again later, from the lifecycle function, until Marketplace says
            self.free_trial_checks.later(Check(ref, claimed_at=now))
        # one registration, one fact: its retries (from the kept answer) publish it with the same event_id
        resolution = str(answer.get(RESOLUTION_ID) or customer.registered_at)
        self._publish(identified(CUSTOMER_REGISTERED, customer.event_detail(), ref.key, resolution))
        self._announce_activation(customer)
        # what a replay needs: never the token (Powertools stores this in the idempotency table)
        return {
            **asdict(resolved),
            "free_trial": customer.free_trial,
            "free_trial_claimed": customer.free_trial_claimed,
            "completion_nonce": nonce,
        }

    def _resolve(self, request: dict[str, Any]) -> dict[str, Any]:
        # what is kept of the answer (in the idempotency table): never the token, which is its key's hash only; and
        # a random id of this resolution, what "Customer Registered"'s event_id is made of
        return {**asdict(self.resolver.resolve(request["token"])), RESOLUTION_ID: secrets.token_hex(16)}

    def _free_trial_terms(self, agreement_id: str | None, claimed: bool) -> bool | None:
        """Whether the agreement's terms include a free trial; None where Marketplace did not say. A failed read does
        not fail the registration: the token is spent and the buyer is subscribed, so the trial stays a claim."""
        if agreement_id is None:
            # ResolveCustomer named no agreement (a legacy product): only a legacy subscribe-success can confirm it
            return None
        try:
            if self.seconds_left() < self.agreement_terms_seconds:
                raise AgreementTermsUnavailable("NoTimeLeft")  # the buyer's page first: a slow ResolveCustomer took it
            confirmed = self.agreement_terms.includes_free_trial(agreement_id)
        except AgreementTermsUnavailable as error:
            logger.warning(
                "agreement terms not read: the free trial stays unconfirmed",
                agreement_id=agreement_id,
                reason=error.reason,
                free_trial_claimed=claimed,
            )
            metrics.add_metric(name="AgreementTermsUnavailable", unit="Count", value=1)
            return None
        if claimed and not confirmed:
            # a paid buyer's browser said free-trial: kept as the claim it is, and worth a look
            logger.warning(
                "a free trial was claimed that the agreement's terms do not include", agreement_id=agreement_id
            )
            metrics.add_metric(name="FreeTrialClaimsNotConfirmed", unit="Count", value=1)
        return confirmed

    def complete(self, completion_value: str | None, fields: dict[str, list[str]]) -> Completed:
        """Attach the buyer's contact details to the customer the signed value names, and only to it."""
        try:
            claims = signing.verify(
                completion_value or "",
                secret=self.signing_secret(),
                purpose=signing.COMPLETION,
                now=self.clock.now().timestamp(),
            )
            ref = claimed_ref(claims)
            nonce = str(claims["nonce"])
        except signing.SignatureExpired as error:
            raise CompletionExpired(str(error)) from None
        except (signing.SignatureInvalid, KeyError, ValueError) as error:
            raise CompletionInvalid(str(error)) from None
        product = self._product(ref.product_code)
        product_name = product.name if product else ref.product_code
        form = parse_contact_form(fields, self.contact_fields)
        if not form.valid:
            raise FormInvalid(form=form, product_name=product_name, completion_value=completion_value or "")
        try:
            customer = self.customers.set_contact(ref, form.contact(), nonce)
        except ConditionFailed:
            raise UnknownCustomer(f"no registered customer {ref.key}") from None
        if customer is None:
            raise CompletionUsed("this form was submitted already")
        contact = form.contact()
        # a reference, never the details: the seller reads them where they are kept (the Contacts table, by this key),
        # so an erasure there leaves no copy in the seller's event consumers, archives or logs
        reference = {"customer_key": ref.key, "contact_fields": sorted(contact)}
        self._publish(identified(CUSTOMER_DETAILS_SUBMITTED, {**customer.event_detail(), **reference}, ref.key, nonce))
        return Completed(product_name=product_name, customer=customer, contact=contact)

    def _product(self, code: str) -> Product | None:
        return next((p for p in self.products if p.code == code), None)

    def _announce_activation(self, customer: Customer) -> None:
        """A subscription confirmed before the buyer registered had no customer to announce then: announce it now."""
        if customer.state is not SubscriptionState.ACTIVE or customer.activation_announced:
            return
        # published (or queued to be) before it is marked: a crash in between sends it again on the buyer's next
        # registration, never loses it; two registrations at once may both send it, with the same event_id (the
        # lifecycle's announcement of the same activation too), which is the seller's dedupe key
        at = customer.state_changed_at
        if self._publish(identified(CUSTOMER_ACTIVATED, customer.event_detail(), customer.ref.key, at.isoformat())):
            self.customers.mark_announced(customer.ref, "announced_activation", at)

    def _publish(self, event: DomainEvent) -> bool:
        """Whether the event was published, or queued to be published again later."""
        # The customer is stored and the token spent: a failed event must not fail the buyer's registration, and
        # nothing the buyer does would publish it again, so it is sent again from the lifecycle queue.
        try:
            self.publisher.publish(event)
        except PublishFailed as error:
            logger.warning(
                "event not published; the customer is stored", detail_type=event.detail_type, reason=str(error)
            )
            return (self.event_retries or SellerEventRetries(self.publisher, timer=None)).later(event)
        return True


def _confirmed_free_trial(stored: dict[str, Any]) -> bool:
    """The confirmed free trial of a stored answer. One stored before claims were kept apart (replayed within a day
    of the upgrade) has the browser's word under ``free_trial``: that is a claim, not a confirmation."""
    return bool(stored["free_trial"]) if "free_trial_claimed" in stored else False


def _ref(resolved: ResolvedCustomer, product: Product | None) -> CustomerRef:
    """How we name the buyer: as the product meters (its ``customer_mode``), by the one name ResolveCustomer gave where
    it gave one only (a legacy product's answer from before LicenseArn; a licence product's)."""
    legacy = product.customer_mode == "legacy" if product else resolved.license_arn is None
    if resolved.customer_identifier and (legacy or resolved.license_arn is None):
        return CustomerRef(resolved.product_code, customer_identifier=resolved.customer_identifier)
    if resolved.license_arn:
        return CustomerRef(resolved.product_code, license_arn=resolved.license_arn)
    raise MarketplaceRejected("ResolveCustomer named neither a licence nor a customer identifier")


def _with_parameter(url: str, name: str, value: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.urlencode([*urllib.parse.parse_qsl(parts.query, keep_blank_values=True), (name, value)])
    return urllib.parse.urlunsplit(parts._replace(query=query))
