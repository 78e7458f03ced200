"""HMAC-SHA256 signed, expiring values: the completion form's binding, the seller sign-up parameter, the seller's
sign-up exchange request and its tenant link.

A value is ``<base64url(JSON claims)>.<base64url(HMAC-SHA256(secret, purpose + "." + first part))>``.
The claims carry ``exp`` (epoch seconds); the purpose is signed but not sent, so a value made for one use
(the completion form) is worthless for another (a seller's sign-up URL), even under the same secret.

Standard library only on purpose: a seller's back end may copy :func:`signup_exchange` and :func:`tenant_link` as
they are.
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
# the query parameter of a seller's sign-up URL that carries the signed value, and the exchange form's field
SIGNUP_PARAMETER = "x-marketplace-registration"
# the value in the URL names the buyer and nothing more, lives this long and is exchanged once for the buyer's claims
SIGNUP_TTL_SECONDS = 15 * 60
# the seller's back end signs its exchange request (POST <fulfillment URL>/signup) with the secret: only it can make one
SIGNUP_EXCHANGE = "seller-signup-exchange"
SIGNATURE_FIELD = "signature"
# the seller's answer: this buyer is our tenant X (made by the seller's back end, see tenant_link)
TENANT_LINK = "seller-tenant-link"
# the form field of POST /register/tenant that carries it
TENANT_LINK_FIELD = "tenant_link"
# a link is made and posted within this long of the exchange, once
TENANT_LINK_TTL_SECONDS = 3600
# the exchange's claim that binds a link to that one exchange
TENANT_LINK_NONCE = "tenant_link_nonce"


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


def signup_exchange(value: str, secret: str) -> dict[str, str]:
    """For the seller's back end: the form to post to ``<fulfillment URL>/signup`` (``POST /register/signup``) to
    exchange the ``x-marketplace-registration`` value its sign-up page was sent for the buyer's claims (JSON)::

        {"customer": {"product_code": ..., "customer_aws_account_id": ..., "license_arn": ... or None,
                      "customer_identifier": ... or None, "agreement_id": ... or None, "free_trial": bool,
                      "tenant_link_nonce": ...}}

    Exactly one of ``license_arn`` and ``customer_identifier`` is set: the name we keep the customer by (the
    product's ``customer_mode``), whichever of them ResolveCustomer returned. ``free_trial`` is true only where AWS
    Marketplace confirmed it (the agreement's terms include a free trial); the browser's
    ``x-amzn-marketplace-offer-type`` is never taken for it.

    The value lives ``SIGNUP_TTL_SECONDS`` and is exchanged once: the same request again (a lost answer) answers the
    same claims, a value a later registration replaced is 409, an expired value 410 (send
    the buyer back to AWS Marketplace's "Set up your account"), a forged one 400; a request not signed with ``secret``
    is 403. Standard library only: copy this module into your back end if you prefer."""
    return {SIGNUP_PARAMETER: value, SIGNATURE_FIELD: _mac(secret, SIGNUP_EXCHANGE, value)}


def signup_exchange_signed(value: str, signature: str, secret: str) -> bool:
    """Whether ``signature`` is the seller's (``signup_exchange``) for ``value``."""
    return hmac.compare_digest(signature.encode(), _mac(secret, SIGNUP_EXCHANGE, value).encode())


def tenant_link(signup_claims: dict[str, Any], tenant_id: str, secret: str, now: float | None = None) -> str:
    """For the seller's back end, once it has created the buyer's account: the value to post as ``tenant_link`` to
    ``<fulfillment URL>/tenant`` (``POST /register/tenant``), which links our customer to ``tenant_id`` (``cli
    customers --tenant`` finds it again).

    ``signup_claims`` are the ``customer`` the sign-up exchange answered for this buyer. Signed with the same secret,
    so only the seller can make one; a link is used once, within ``TENANT_LINK_TTL_SECONDS`` of the exchange."""
    claims = {
        "product_code": signup_claims["product_code"],
        "license_arn": signup_claims.get("license_arn"),
        "customer_identifier": signup_claims.get("customer_identifier"),
        "nonce": signup_claims[TENANT_LINK_NONCE],
        "tenant_id": tenant_id,
    }
    issued = time.time() if now is None else now
    return sign(claims, secret=secret, purpose=TENANT_LINK, expires_at=issued + TENANT_LINK_TTL_SECONDS)
