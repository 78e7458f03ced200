"""The seller's own sign-up page, and nothing a leaked URL could replay.

Registration sends the buyer's browser to the seller's page with a value that names the buyer and a nonce, nothing
personal, valid ``SIGNUP_TTL_SECONDS`` (each registration replaces the one before). The seller's back end exchanges it,
once, server to server, signed with the registration secret, for the buyer's claims and the single use of a tenant
link; the link then attaches that buyer, and only it, to the seller's tenant, once, within an hour of the exchange.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from functions.clock import Clock
from functions.customers.model import (
    Customer,
    CustomerRef,
    SingleUseExpired,
    SingleUseSpent,
    TenantConflict,
    tenant_id_problem,
)
from functions.observability import logger
from functions.registration import signing
from functions.registration.claims import UnknownCustomer, claimed_ref, ref_claims
from functions.storage.errors import ConditionFailed


class SignupStart(Protocol):
    def start_signup(self, ref: CustomerRef, nonce: str) -> None:
        """The sign-up value ``nonce`` names is the one it may exchange; SingleUseSpent if the customer's personal
        data were erased since they registered; ConditionFailed if no customer."""
        ...


class SignupStore(SignupStart, Protocol):
    def exchange_signup(
        self, ref: CustomerRef, nonce: str, link_nonce: str, link_until: datetime, idempotency_key: str | None = None
    ) -> tuple[Customer, str]:
        """Spend that value once, allowing one tenant link until ``link_until``: the customer and the link's nonce
        (the first exchange's again when the same value is exchanged again with the first's ``idempotency_key``);
        SingleUseSpent if exchanged already without that key, replaced or erased; ConditionFailed if no customer."""
        ...

    def link_tenant(self, ref: CustomerRef, tenant_id: str, nonce: str, now: datetime) -> bool:
        """True if the link changed, False if this link made it already; SingleUseSpent, SingleUseExpired,
        TenantConflict; ConditionFailed if no customer."""
        ...


class SignupInvalid(ValueError):
    """The sign-up value to exchange is missing or not ours, or the exchange's Idempotency-Key is malformed."""


class SignupExpired(ValueError):
    """The sign-up value's time is up: the buyer starts again from AWS Marketplace."""


class SignupUsed(ValueError):
    """The sign-up value was exchanged already, a later registration replaced it, or the buyer's data were erased
    since: worth nothing now. (Only a repeat carrying the first exchange's Idempotency-Key, the seller's retry of a lost
    answer, gets the first exchange's claims again: a leaked URL opened again does not.)"""


class IdempotencyKeyInvalid(SignupInvalid):
    """The exchange's Idempotency-Key header is not 1 to 255 characters of letters, digits and ``-_.:~``."""


IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
# chosen by the seller's back end per sign-up session; bounded so what we store with the exchange stays small
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:~-]{1,255}")


class ExchangeNotSigned(ValueError):
    """The exchange request is not signed with the seller's secret: only the seller's back end may exchange."""


class TenantLinkInvalid(ValueError):
    """The tenant link was not made with the seller's secret, has expired, or names no valid tenant id."""


class TenantLinkUsed(ValueError):
    """The tenant link was used already (a link is used once), or is not the customer's it names."""


class TenantTaken(ValueError):
    """The customer is linked to another of the seller's tenants already; an operator may move it (cli set-tenant
    --replace)."""


def signup_value(customers: SignupStart, ref: CustomerRef, secret: str, now: datetime) -> str:
    """What the buyer's browser carries to the seller's sign-up page: the customer's name and a single-use nonce,
    nothing personal, valid a few minutes. Each one replaces the one before."""
    nonce = secrets.token_urlsafe(16)
    try:
        customers.start_signup(ref, nonce)
    except SingleUseSpent:
        # erased since this registration (its answer replayed: a reload, the Back button): the value names a nonce
        # never stored, so the seller's exchange answers 409 (sends the buyer back to AWS Marketplace) and nothing
        # the erasure removed is written back
        logger.info("no sign-up value started: the customer's personal data were erased", customer=ref.key)
    return signing.sign(
        {**ref_claims(ref), "nonce": nonce},
        secret=secret,
        purpose=signing.SIGNUP,
        expires_at=now.timestamp() + signing.SIGNUP_TTL_SECONDS,
    )


@dataclass
class SellerSignups:
    """The seller's back end's requests: the sign-up exchange and the tenant link."""

    customers: SignupStore
    clock: Clock
    signing_secret: Callable[[], str]

    def exchange(self, value: str | None, signature: str | None, idempotency_key: str | None = None) -> dict[str, Any]:
        """The seller's back end exchanges the sign-up value its page was sent, once, for the buyer's claims (the
        customer as we keep it, and the single use of a tenant link). A repeat is refused, unless it carries the first
        exchange's ``idempotency_key`` (the seller's retry of a lost answer): then it gets the same claims."""
        if idempotency_key is not None and not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
            raise IdempotencyKeyInvalid(
                f"{IDEMPOTENCY_KEY_HEADER} must be 1 to 255 characters of letters, digits and -_.:~"
            )
        if not value:
            raise SignupInvalid(f"{signing.SIGNUP_PARAMETER} is missing")
        secret = self.signing_secret()
        if not signature or not signing.signup_exchange_signed(value, signature, secret):
            raise ExchangeNotSigned(f"{signing.SIGNATURE_FIELD} is not the seller's signature of this value")
        now = self.clock.now()
        try:
            claims = signing.verify(value, secret=secret, purpose=signing.SIGNUP, now=now.timestamp())
            ref = claimed_ref(claims)
            nonce = str(claims["nonce"])
        except signing.SignatureExpired:
            raise SignupExpired(f"{signing.SIGNUP_PARAMETER} has expired") from None
        except (signing.SignatureInvalid, KeyError, TypeError, ValueError):
            raise SignupInvalid(f"{signing.SIGNUP_PARAMETER} is not a sign-up value of ours") from None
        link_until = now + timedelta(seconds=signing.TENANT_LINK_TTL_SECONDS)
        try:
            # the seller's retry with the first exchange's key (its answer lost) gets the same claims: one link nonce
            # per value, ever; a repeat without that key (a leaked URL opened again) is refused
            customer, link_nonce = self.customers.exchange_signup(
                ref, nonce, secrets.token_urlsafe(16), link_until, idempotency_key
            )
        except ConditionFailed:
            raise UnknownCustomer(f"no registered customer {ref.key}") from None
        except SingleUseSpent:
            raise SignupUsed(
                f"{signing.SIGNUP_PARAMETER} was exchanged already (a retry must repeat the first exchange's "
                f"{IDEMPOTENCY_KEY_HEADER}), was replaced by a later one, or is no longer valid"
            ) from None
        logger.info("sign-up value exchanged", customer=ref.key)
        return {
            **ref_claims(ref),
            "customer_aws_account_id": customer.customer_aws_account_id,
            "agreement_id": customer.agreement_id,
            # confirmed by Marketplace: what the seller may act on (the browser's claim never is)
            "free_trial": customer.free_trial,
            signing.TENANT_LINK_NONCE: link_nonce,
        }

    def link_tenant(self, value: str | None) -> CustomerRef:
        """Link the customer a seller's tenant link names to the seller's tenant, with the single use its sign-up
        exchange allowed."""
        now = self.clock.now()
        try:
            claims = signing.verify(
                value or "", secret=self.signing_secret(), purpose=signing.TENANT_LINK, now=now.timestamp()
            )
            ref = claimed_ref(claims)
            tenant_id = claims["tenant_id"]
            nonce = str(claims["nonce"])
        except signing.SignatureExpired:
            raise TenantLinkInvalid(f"{signing.TENANT_LINK_FIELD} has expired") from None
        except KeyError as missing:
            raise TenantLinkInvalid(f"{signing.TENANT_LINK_FIELD} is not valid: it names no {missing}") from None
        except (signing.SignatureInvalid, TypeError, ValueError) as error:
            raise TenantLinkInvalid(f"{signing.TENANT_LINK_FIELD} is not valid: {error}") from None
        if (problem := tenant_id_problem(tenant_id)) is not None:
            raise TenantLinkInvalid(problem)
        try:
            self.customers.link_tenant(ref, tenant_id, nonce, now)
        except ConditionFailed:
            raise UnknownCustomer(f"no registered customer {ref.key}") from None
        except SingleUseSpent:
            raise TenantLinkUsed(f"{signing.TENANT_LINK_FIELD} was used already, or is not this customer's") from None
        except SingleUseExpired:
            raise TenantLinkInvalid(f"{signing.TENANT_LINK_FIELD} came too long after its sign-up exchange") from None
        except TenantConflict:
            raise TenantTaken("the customer is linked to another tenant") from None
        logger.info("customer linked to a tenant", customer=ref.key)
        return ref
