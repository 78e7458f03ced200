"""The fulfillment URL: ``POST /register`` (AWS Marketplace's form), ``POST /register/complete`` (our form),
``POST /register/signup`` (the seller's back end exchanging the sign-up value its page was sent, server to server),
``POST /register/tenant`` (the seller linking the buyer's account to the subscription).

Every answer is an HTML page with the security headers (among them ``Referrer-Policy: same-origin``); every failure a
page saying what to do next. The sign-up exchange, a machine's request, answers JSON, its refusals naming the field.
``GET`` on any route answers 405 with a page explaining the URL (a bookmarked or reloaded page).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.parse
from collections.abc import Callable
from typing import Any, NamedTuple

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import snapstart
from functions.handlers import imported
from functions.observability import for_stage, logger, metrics
from functions.registration import pages, signing
from functions.registration.claims import UnknownCustomer
from functions.registration.resolution import (
    AnswerLost,
    ExpiredToken,
    InvalidToken,
    MarketplaceRejected,
    MarketplaceUnavailable,
)
from functions.registration.seller_signup import (
    IDEMPOTENCY_KEY_HEADER,
    ExchangeNotSigned,
    IdempotencyKeyInvalid,
    SignupExpired,
    SignupInvalid,
    SignupUsed,
    TenantLinkInvalid,
    TenantLinkUsed,
    TenantTaken,
)
from functions.registration.service import (
    CompletionExpired,
    CompletionInvalid,
    CompletionUsed,
    FormInvalid,
    MalformedToken,
    MissingToken,
    RegistrationInProgress,
)
from functions.settings import get_settings
from functions.storage.errors import StorageError
from functions.wiring import registration as registration_wiring

snapstart.register(registration_wiring.build.cache_clear)  # before the snapshot: see functions.snapstart

TOKEN_FIELD = "x-amzn-marketplace-token"  # noqa: S105 (the form field name Marketplace posts, not a secret)
OFFER_TYPE_FIELD = "x-amzn-marketplace-offer-type"
# AWS sends "free-trial" (and nothing for other offers); another well-formed value is no claim, anything else a mistake
_OFFER_TYPE = re.compile(r"[A-Za-z0-9_-]{0,64}")
COMPLETION_FIELD = "registration"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_BODY_BYTES = 16 * 1024
MAX_FIELDS = 20

_START_AGAIN = (
    "Go back to AWS Marketplace, open Your Marketplace Software (Manage subscriptions), "
    'and click "Set up your account" on this product again.'
)


class Request(NamedTuple):
    """What the handler reads of API Gateway's proxy event: the method, the route (the resource the stack defines,
    whatever the stage or base path), the headers by lower-case name, and the body as sent."""

    method: str
    route: str
    headers: dict[str, str]
    body: str
    base64_encoded: bool


class Page(NamedTuple):
    """An answer: its status, body and headers, as API Gateway's proxy integration takes it (``proxied``)."""

    status_code: int
    body: str
    headers: dict[str, str]

    def proxied(self) -> dict[str, Any]:
        headers = {name: [value] for name, value in self.headers.items()}
        return {
            "statusCode": self.status_code,
            "multiValueHeaders": headers,
            "body": self.body,
            "isBase64Encoded": False,
        }


class RequestRejected(Exception):
    """The HTTP request itself is unusable (content type, size, encoding, a form field sent twice or not text); the
    message is shown to the buyer, and ``field`` names the form field at fault to the sign-up exchange's caller (the
    body where no one field is)."""

    def __init__(self, status: int, message: str, field: str = "body") -> None:
        super().__init__(message)
        self.status = status
        self.field = field


# exception -> (status, page title, what the buyer should do); the message never includes request data
ERROR_PAGES: dict[type[Exception], tuple[int, str, str]] = {
    MissingToken: (400, "Registration token missing", "This address is opened from AWS Marketplace. " + _START_AGAIN),
    MalformedToken: (400, "Registration token not valid", _START_AGAIN),
    InvalidToken: (400, "Registration token not valid", "AWS Marketplace did not recognise it. " + _START_AGAIN),
    ExpiredToken: (400, "Registration link expired", "It expired or was already used. " + _START_AGAIN),
    # an outage on the way back from AWS, not the buyer's doing: the link is spent, a new one works
    AnswerLost: (
        502,
        "Registration interrupted",
        "AWS Marketplace's answer did not reach us, and this link works only once. Your subscription is not "
        "affected. " + _START_AGAIN,
    ),
    MarketplaceUnavailable: (503, "Please try again", "AWS Marketplace is busy right now. Try again in a minute."),
    StorageError: (503, "Please try again", "We could not save your registration just now. Try again in a minute."),
    RegistrationInProgress: (409, "Registration in progress", "Reload this page in a few seconds to see the result."),
    CompletionInvalid: (403, "Form not valid", "This form was not issued for your subscription. " + _START_AGAIN),
    CompletionExpired: (400, "Form expired", "The form was open too long. " + _START_AGAIN),
    CompletionUsed: (
        409,
        "Form already used",
        "This form was submitted already, or is no longer valid; nothing was changed. To correct your details, "
        "contact the seller.",
    ),
    UnknownCustomer: (404, "Subscription not found", "We have no registration for this form. " + _START_AGAIN),
    MarketplaceRejected: (502, "Registration failed", "We could not confirm your subscription. Contact the seller."),
    TenantLinkInvalid: (
        400,
        "Link not valid",
        "This link was not issued by the seller's sign-up page, or it expired. Return to the sign-up page.",
    ),
    TenantLinkUsed: (
        409,
        "Link already used",
        "A link is used once: this one was, or it is not this subscription's. Return to the sign-up page.",
    ),
    TenantTaken: (409, "Already linked", "This subscription is linked to another account. Contact the seller."),
}
# the sign-up exchange's refusals, to the seller's back end: (status, the field at fault)
EXCHANGE_ERRORS: dict[type[Exception], tuple[int, str]] = {
    IdempotencyKeyInvalid: (400, IDEMPOTENCY_KEY_HEADER),  # before SignupInvalid, its kind: the field it names
    SignupInvalid: (400, signing.SIGNUP_PARAMETER),
    ExchangeNotSigned: (403, signing.SIGNATURE_FIELD),
    UnknownCustomer: (404, signing.SIGNUP_PARAMETER),
    SignupUsed: (409, signing.SIGNUP_PARAMETER),
    SignupExpired: (410, signing.SIGNUP_PARAMETER),
}
SIGNUP_EXCHANGE_ROUTE = "/register/signup"


# refusals of the seller's own requests (its sign-up page's link): the page says which field and why
SAY_WHY = (TenantLinkInvalid, TenantLinkUsed)


def _page(status: int, html: str, headers: dict[str, str] | None = None) -> Page:
    return Page(status, html, {"Content-Type": "text/html; charset=utf-8", **pages.SECURITY_HEADERS, **(headers or {})})


def _json(status: int, body: dict[str, Any]) -> Page:
    headers = {"Content-Type": "application/json", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    return Page(status, json.dumps(body), headers)


def exchange_error_response(error: Exception) -> Page:
    """A refusal of the sign-up exchange, as JSON naming the field; never "try again" for what a retry cannot fix."""
    if isinstance(error, RequestRejected):
        return _json(error.status, {"message": str(error), "field": error.field})
    if isinstance(error, StorageError):
        if error.retryable:
            return _json(503, {"message": "storage is busy: send the same request again"})
        return _json(500, {"message": "the exchange failed on our side: sending it again will not help"})
    status, field = next(
        (answer for kind, answer in EXCHANGE_ERRORS.items() if isinstance(error, kind)),
        (500, ""),
    )
    message = str(error) if field else "the exchange failed on our side"
    return _json(status, {"message": message, "field": field} if field else {"message": message})


def error_response(error: Exception) -> Page:
    if isinstance(error, StorageError) and not error.retryable:  # ours to fix: trying again would not help
        return _page(500, pages.message("Something went wrong", "Please contact the seller."))
    status, title, advice = next(
        (page for kind, page in ERROR_PAGES.items() if isinstance(error, kind)),
        (500, "Something went wrong", "Please try again later, or contact the seller."),
    )
    if isinstance(error, SAY_WHY):  # their messages are ours alone, never the request's data
        return _page(status, pages.message(title, str(error), advice))
    return _page(status, pages.message(title, advice))


def _form_fields(request: Request) -> dict[str, list[str]]:
    content_type = request.headers.get("content-type") or ""
    if content_type.split(";")[0].strip().lower() != FORM_CONTENT_TYPE:
        raise RequestRejected(415, f"This address accepts only {FORM_CONTENT_TYPE} form posts.")
    raw = request.body
    try:
        body = base64.b64decode(raw, validate=True) if request.base64_encoded else raw.encode()
    except (binascii.Error, ValueError):
        raise RequestRejected(400, "The request body could not be decoded.") from None
    if not body:
        raise RequestRejected(400, "The form arrived empty. " + _START_AGAIN)
    if len(body) > MAX_BODY_BYTES:
        raise RequestRejected(413, f"The form is larger than {MAX_BODY_BYTES} bytes.")
    try:
        # bytes that are not UTF-8 (raw or percent-encoded) are kept as escapes, so the field holding them is named
        fields = urllib.parse.parse_qs(
            body.decode("utf-8", "surrogateescape"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FIELDS,
            errors="surrogateescape",
        )
    except ValueError:
        raise RequestRejected(400, f"The form has more than {MAX_FIELDS} fields.") from None
    for name, values in fields.items():
        if not _utf8(name):
            raise RequestRejected(400, "A form field's name is not UTF-8 text.")
        if not all(_utf8(value) for value in values):
            # a field of ours is named; any other name is the request's own text, never shown on our page
            if name in _known_fields():
                raise RequestRejected(400, f"The form field {name} is not UTF-8 text.", field=name)
            raise RequestRejected(400, "A form field is not UTF-8 text.")
    return fields


def _known_fields() -> set[str]:
    ours = {TOKEN_FIELD, OFFER_TYPE_FIELD, COMPLETION_FIELD, signing.SIGNUP_PARAMETER, signing.SIGNATURE_FIELD}
    return ours | {signing.TENANT_LINK_FIELD} | {spec.name for spec in get_settings().contact_fields}


def _utf8(text: str) -> bool:
    return not any(0xDC80 <= ord(c) <= 0xDCFF for c in text)


def _single(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name, [])
    if len(values) > 1:
        raise RequestRejected(400, f"The form field {name} was sent more than once.", field=name)
    return values[0] if values else None


def register(request: Request) -> Page:
    fields = _form_fields(request)
    token = _single(fields, TOKEN_FIELD)
    offer_type = _single(fields, OFFER_TYPE_FIELD)
    if offer_type is not None and not _OFFER_TYPE.fullmatch(offer_type):
        raise RequestRejected(400, f"The form field {OFFER_TYPE_FIELD} is not an offer type.", field=OFFER_TYPE_FIELD)
    # the browser's word: registration checks it against the agreement's terms before anything relies on it
    claims_free_trial = offer_type == "free-trial"
    registered = registration_wiring.build(get_settings()).registrations.register(
        token, free_trial_claimed=claims_free_trial
    )
    if registered.redirect_url:
        return _page(
            303,
            pages.message("Continue to sign-up", "Continuing to the seller's sign-up page."),
            {"Location": registered.redirect_url},
        )
    html = pages.onboarding(
        product_name=registered.product_name,
        completion_value=registered.completion_value,
        action="register/complete",  # relative: right under any stage or base path
        fields=get_settings().contact_fields,
        free_trial=registered.free_trial,  # confirmed by Marketplace, never the browser's claim
    )
    return _page(200, html)


def _refuse_cross_site(request: Request) -> None:
    """Our onboarding form posts to itself only: a post another page made the buyer's browser send (a forged form
    bound to someone else's subscription, from another site or a sibling host of ours) is refused. Our own form's post
    is same-origin: ``Sec-Fetch-Site``, where the browser sends it, is ``same-origin`` (or ``none``, typed by the user),
    and ``Origin``, where sent, is our own (our pages' ``Referrer-Policy: same-origin`` lets the browser send it). An
    opaque ``Origin: null`` (a sandboxed frame, a no-referrer form elsewhere) is never ours. ``POST /register`` is
    exempt: AWS Marketplace's page posts it cross-site by design, and its token is Marketplace's, resolved once, never
    bound by us to a browser."""
    headers = request.headers
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.strip().lower() not in ("same-origin", "none"):
        raise RequestRejected(403, "This form is accepted only from its own page. " + _START_AGAIN)
    origin = headers.get("origin")
    if origin is not None:
        # compared as the browser serializes it (scheme://host[:port]), never parsed: a malformed Origin is not ours
        host = (headers.get("host") or "").strip().lower()
        if not host or origin.strip().lower() not in (f"https://{host}", f"http://{host}"):
            raise RequestRejected(403, "This form is accepted only from its own page. " + _START_AGAIN)


def complete(request: Request) -> Page:
    _refuse_cross_site(request)
    fields = _form_fields(request)
    completed = registration_wiring.build(get_settings()).registrations.complete(
        _single(fields, COMPLETION_FIELD), fields
    )
    html = pages.confirmation(
        product_name=completed.product_name, contact=completed.contact, fields=get_settings().contact_fields
    )
    return _page(200, html)


def exchange_signup(request: Request) -> Page:
    """The seller's back end, server to server: the sign-up value its page was sent, exchanged once for the buyer's
    claims (see signing.signup_exchange)."""
    fields = _form_fields(request)
    claims = registration_wiring.build(get_settings()).signups.exchange(
        _single(fields, signing.SIGNUP_PARAMETER),
        _single(fields, signing.SIGNATURE_FIELD),
        request.headers.get(IDEMPOTENCY_KEY_HEADER.lower()),
    )
    return _json(200, {"customer": claims})


def link_tenant(request: Request) -> Page:
    """The seller's sign-up page links the buyer's new account to their subscription (see signing.tenant_link)."""
    fields = _form_fields(request)
    registration_wiring.build(get_settings()).signups.link_tenant(_single(fields, signing.TENANT_LINK_FIELD))
    html = pages.message("Account linked", "Your AWS Marketplace subscription is linked to your account.")
    return _page(200, html)


def explain() -> Page:
    html = pages.message(
        "AWS Marketplace registration",
        "This is the seller's fulfillment address: AWS Marketplace sends your browser here, with a form post, "
        "after you subscribe.",
        _START_AGAIN,
    )
    return _page(405, html, {"Allow": "POST"})


def form_invalid(error: FormInvalid) -> Page:
    html = pages.onboarding(
        product_name=error.product_name,
        completion_value=error.completion_value,
        action="complete",  # relative to .../register/complete
        fields=get_settings().contact_fields,
        values=error.form.values,
        errors=error.form.errors,
    )
    return _page(422, html)


def request_rejected(error: RequestRejected, request: Request) -> Page:
    if request.route == SIGNUP_EXCHANGE_ROUTE:
        return exchange_error_response(error)
    return _page(error.status, pages.message("Request not accepted", str(error)))


def failed(error: Exception, request: Request) -> Page:
    if not any(isinstance(error, kind) for kind in (*ERROR_PAGES, *EXCHANGE_ERRORS)):
        logger.exception("registration failed")
    elif isinstance(error, AnswerLost):
        logger.warning("registration interrupted: ResolveCustomer's answer was lost")
    else:
        logger.info("registration refused", extra={"reason": type(error).__name__})
    metrics.add_metric(name=f"Registration{type(error).__name__}", unit="Count", value=1)
    return exchange_error_response(error) if request.route == SIGNUP_EXCHANGE_ROUTE else error_response(error)


def not_found() -> Page:
    return _page(404, pages.message("Not found", "There is nothing at this address."))


# each route takes a form post; a GET on one is explained (405). Routed by hand, not by Powertools' resolver: the
# buyer waits on this function's cold start, and importing Powertools' event_handler package (its AppSync, Bedrock and
# other resolvers with it, asyncio among their imports) cost about 30 ms of it, more than all our own code (README:
# cold start). The usage API, called by machines, keeps the resolver.
ROUTES: dict[str, Callable[[Request], Page]] = {
    "/register": register,
    "/register/complete": complete,
    SIGNUP_EXCHANGE_ROUTE: exchange_signup,
    "/register/tenant": link_tenant,
}


def _request(event: dict[str, Any]) -> Request:
    """The request of API Gateway's proxy event, read as Powertools' resolver read it: the method in capitals, the
    resource (else the path, in an event made by hand), headers by lower-case name."""
    return Request(
        method=str(event.get("httpMethod") or "").upper(),
        route=str(event.get("resource") or event.get("path") or ""),
        headers=_headers(event.get("headers")),
        body=event.get("body") or "",
        base64_encoded=bool(event.get("isBase64Encoded")),
    )


def _headers(raw: object) -> dict[str, str]:
    """Headers by lower-case name: a null value is no header (never the text "None", which a check could take for a
    host), and what is neither a mapping nor name/value pairs no headers at all (every form post then refused)."""
    try:
        sent = dict(raw or {})  # type: ignore[call-overload]  # a mapping or pairs, as the resolver read them
    except (TypeError, ValueError):
        return {}
    return {str(name).lower(): str(value) for name, value in sent.items() if value is not None}


def answer(request: Request) -> Page:
    """The route's page, or the page of what went wrong: never an exception out of here."""
    route = ROUTES.get(request.route)
    if route is None:
        return not_found()
    if request.method != "POST":
        return explain()
    try:
        return route(request)
    except FormInvalid as error:
        return form_invalid(error)
    except RequestRejected as error:
        return request_rejected(error, request)
    except Exception as error:  # every failure answers a page: the buyer is told what to do next
        return failed(error, request)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    for_stage(settings.stage)
    wiring = registration_wiring.build(settings)
    wiring.idempotency.register_lambda_context(context)
    wiring.deadline.start(context)
    return answer(_request(event)).proxied()


imported()  # last: see functions.handlers
