"""HMAC-SHA256 signed, expiring values: the completion form's binding and the seller sign-up parameter.

A value is ``<base64url(JSON claims)>.<base64url(HMAC-SHA256(secret, purpose + "." + first part))>``.
The claims carry ``exp`` (epoch seconds); the purpose is signed but not sent, so a value made for one use
(the completion form) is worthless for another (a seller's sign-up URL), even under the same secret.

Standard library only on purpose: a seller's application may copy :func:`verify_signup_value` as it is.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any

COMPLETION = "registration-completion"
SIGNUP = "seller-signup"
# the seller's answer: this buyer is our tenant X (made by the seller's sign-up page, see tenant_link)
TENANT_LINK = "seller-tenant-link"
# the form field of POST /register/tenant that carries it
TENANT_LINK_FIELD = "tenant_link"
TENANT_LINK_TTL_SECONDS = 3600
# the query parameter of a seller's sign-up URL that carries the signed value
SIGNUP_PARAMETER = "x-marketplace-registration"


class SignatureInvalid(ValueError):
    """Not made by us with this secret and purpose: altered, truncated or forged."""


class SignatureExpired(ValueError):
    """Made by us, but its time is up."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, purpose: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), f"{purpose}.{payload}".encode(), hashlib.sha256).digest())


def sign(claims: dict[str, Any], *, secret: str, purpose: str, expires_at: float) -> str:
    payload = _b64(json.dumps({**claims, "exp": int(expires_at)}, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_mac(secret, purpose, payload)}"


def verify(value: str, *, secret: str, purpose: str, now: float) -> dict[str, Any]:
    """The claims of ``value``; SignatureInvalid or SignatureExpired otherwise. Checks the MAC first."""
    payload, dot, mac = value.partition(".")
    if not dot or not hmac.compare_digest(mac.encode(), _mac(secret, purpose, payload).encode()):
        raise SignatureInvalid("the signature does not match")
    try:
        claims = json.loads(_unb64(payload))
        expires_at = float(claims["exp"])
    except (binascii.Error, ValueError, KeyError, TypeError) as error:  # only if the secret leaked
        raise SignatureInvalid("the signed value is malformed") from error
    if not isinstance(claims, dict):
        raise SignatureInvalid("the signed value is malformed")
    if now >= expires_at:
        raise SignatureExpired("the signed value has expired")
    return claims


def verify_signup_value(value: str, secret: str, now: float | None = None) -> dict[str, Any]:
    """For the seller's sign-up page: check the ``x-marketplace-registration`` query parameter.

    ``secret`` is the registration signing secret (the stack's Secrets Manager secret). Returns the claims::

        {"product_code": ..., "customer_aws_account_id": ..., "license_arn": ... or None,
         "customer_identifier": ... or None, "agreement_id": ... or None, "free_trial": bool, "exp": epoch}

    Exactly one of ``license_arn`` and ``customer_identifier`` is set: the name we keep the customer by (the product's
    ``customer_mode``), whichever of them ResolveCustomer returned.

    ``free_trial`` is true only where AWS Marketplace confirmed it (the agreement's terms include a free trial). The
    browser's ``x-amzn-marketplace-offer-type`` is never signed: anyone can send it, and a value we sign is one your
    page trusts. Where Marketplace could not be asked, a true free trial reads false here; the "Customer Registered"
    event also carries ``free_trial_claimed``.

    and raises :class:`SignatureInvalid` (forged or altered: refuse) or :class:`SignatureExpired` (send the
    buyer back to AWS Marketplace's "Set up your account"). A value is valid for ``COMPLETION_TTL_SECONDS``.
    """
    return verify(value, secret=secret, purpose=SIGNUP, now=time.time() if now is None else now)


def tenant_link(signup_claims: dict[str, Any], tenant_id: str, secret: str, now: float | None = None) -> str:
    """For the seller's sign-up page, once it has created the buyer's account: the value to post back as
    ``tenant_link`` to ``<fulfillment URL>/tenant`` (that is, ``POST /register/tenant``), which links our customer to
    ``tenant_id`` (``cli customers --tenant`` finds it again).

    ``signup_claims`` are what :func:`verify_signup_value` returned for this buyer (keep them in your session: the
    link may be made long after the sign-up value itself expired). Signed with the same secret, so only the seller
    can make one; valid for ``TENANT_LINK_TTL_SECONDS``."""
    claims = {
        "product_code": signup_claims["product_code"],
        "license_arn": signup_claims.get("license_arn"),
        "customer_identifier": signup_claims.get("customer_identifier"),
        "tenant_id": tenant_id,
    }
    issued = time.time() if now is None else now
    return sign(claims, secret=secret, purpose=TENANT_LINK, expires_at=issued + TENANT_LINK_TTL_SECONDS)
