"""A seller's registration world for tests: the registration handler invoked in-process with the proxy events API
Gateway sends, its settings from the environment as in Lambda, DynamoDB Local, and the Marketplace emulator over
HTTP through an unmodified boto3 client. Shared by the registration, strict-input and erasure tests."""

from __future__ import annotations

import io
import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from functions.customers.repository import DynamoCustomerRepository
from functions.handlers import registration
from functions.registration import signing
from functions.settings import Settings
from local.apigateway import LambdaContext, proxy_event
from local.marketplace.testing import EmulatorHandle
from operations.cli import main
from operations.target import local_target

SECRET = "integration-test-signing-secret"
FORM = "application/x-www-form-urlencoded"
LICENSE_PRODUCT = "reglicence1"
LEGACY_PRODUCT = "reglegacy1"
REDIRECT_PRODUCT = "regredirect1"
SIGNUP_URL = "https://seller.example/signup?source=marketplace"
BUYER = "111122223333"
API_CALLS = [{"name": "api_calls"}]
PRODUCTS = [
    {"code": LICENSE_PRODUCT, "name": "Acme Analytics", "customer_mode": "license"},
    {"code": LEGACY_PRODUCT, "name": "Acme Legacy", "customer_mode": "legacy"},
    {"code": REDIRECT_PRODUCT, "name": "Acme Redirect", "signup_redirect_url": SIGNUP_URL},
]


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = registration.handler(event, LambdaContext(function_name="registration-test"))
    return response


@dataclass
class Harness:
    settings: Settings
    marketplace: EmulatorHandle
    dynamodb: Any
    single_use_tokens: bool = False

    def subscribe(self, product_code: str = LICENSE_PRODUCT, account: str = BUYER, **fields: Any) -> dict[str, Any]:
        return self.marketplace.admin.subscribe(product_code, account, **fields)

    def post(
        self, path: str, body: bytes | str, content_type: str = FORM, headers: dict[str, list[str]] | None = None
    ) -> dict[str, Any]:
        raw = body.encode() if isinstance(body, str) else body
        event = proxy_event("POST", path, path, headers={"Content-Type": [content_type], **(headers or {})}, body=raw)
        return invoke(event)

    def get(self, path: str) -> dict[str, Any]:
        return invoke(proxy_event("GET", path, path))

    def register(self, token: str, **extra: str) -> dict[str, Any]:
        return self.post("/register", urllib.parse.urlencode({"x-amzn-marketplace-token": token, **extra}))

    def complete(self, completion: str, **fields: str) -> dict[str, Any]:
        return self.post("/register/complete", urllib.parse.urlencode({"registration": completion, **fields}))

    def items(self, table: str) -> list[dict[str, Any]]:
        return list(self.dynamodb.scan(TableName=table)["Items"])

    def customers(self) -> DynamoCustomerRepository:
        return DynamoCustomerRepository(self.dynamodb, self.settings.customers_table, self.settings.contacts_table)


def registration_harness(
    marketplace: EmulatorHandle,
    dynamodb: Any,
    handler_environment: Callable[..., Settings],
    *,
    single_use_tokens: bool = False,
    products: list[dict[str, Any]] = PRODUCTS,
    **variables: str,
) -> Harness:
    """``products`` in the emulator and in the handler's settings (by default one ``api_calls`` dimension each; a
    product's ``emulated`` fields are the emulator's alone, such as the ResolveCustomer shape it answers with)."""
    marketplace.admin.put_config(token_single_use=single_use_tokens)
    for product in products:
        # the emulator's product is the seller's configuration, unless ``emulated`` says how Marketplace differs
        emulated = {"customer_mode": product.get("customer_mode", "license"), **product.get("emulated", {})}
        marketplace.admin.create_product(
            product["code"],
            [d["name"] for d in product.get("dimensions", API_CALLS)],
            name=product["name"],
            fulfillment_url="http://127.0.0.1:9/register",
            **emulated,
        )
    configured = [{"dimensions": API_CALLS, **{k: v for k, v in p.items() if k != "emulated"}} for p in products]
    settings = handler_environment(configured, SIGNING_SECRET=SECRET, **variables)
    return Harness(settings=settings, marketplace=marketplace, dynamodb=dynamodb, single_use_tokens=single_use_tokens)


def signup_value(response: dict[str, Any]) -> str:
    """The value our answer to a registration sends the buyer's browser to the seller's sign-up page with."""
    assert response["statusCode"] == 303, response["body"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(header(response, "Location")).query)
    return query[signing.SIGNUP_PARAMETER][0]


def exchange(harness: Harness, value: str, secret: str = SECRET, idempotency_key: str | None = None) -> dict[str, Any]:
    """The seller's back end exchanges the value its page was sent (server to server, signed with ``secret``; with
    ``idempotency_key``, its sign-up session's Idempotency-Key)."""
    headers = {"Idempotency-Key": [idempotency_key]} if idempotency_key is not None else None
    return harness.post(
        "/register/signup", urllib.parse.urlencode(signing.signup_exchange(value, secret)), headers=headers
    )


def seller_signup(harness: Harness, response: dict[str, Any]) -> dict[str, Any]:
    """What the seller's back end learns of the buyer our answer sent to its page: the exchange's claims."""
    answer = exchange(harness, signup_value(response))
    assert answer["statusCode"] == 200, answer["body"]
    claims: dict[str, Any] = json.loads(answer["body"])["customer"]
    return claims


def post_link(harness: Harness, link: str) -> dict[str, Any]:
    """The seller's back end posts its tenant link."""
    return harness.post("/register/tenant", urllib.parse.urlencode({signing.TENANT_LINK_FIELD: link}))


def cli(harness: Harness, *argv: str) -> tuple[int, str, str]:
    """The operator's command line on this world's tables (the local target, as `make run`'s)."""
    out, err = io.StringIO(), io.StringIO()
    target = local_target(harness.settings, credentials={})
    status = main(list(argv), out=out, err=err, target=lambda _: target)
    return status, out.getvalue(), err.getvalue()


def completion_value(page: str) -> str:
    found = re.search(r'name="registration" value="([^"]+)"', page)
    assert found, "the onboarding form carries the signed value"
    return found.group(1)


def header(response: dict[str, Any], name: str) -> str:
    values = {k.lower(): v for k, v in (response.get("multiValueHeaders") or {}).items()}
    values.update({k.lower(): [v] for k, v in (response.get("headers") or {}).items()})
    return ",".join(values.get(name.lower(), []))


def assert_secure_page(response: dict[str, Any]) -> None:
    headers = {
        n: header(response, n)
        for n in (
            "content-type",
            "content-security-policy",
            "cache-control",
            "x-content-type-options",
            "referrer-policy",
        )
    }
    assert headers["content-type"].startswith("text/html")
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "form-action 'self'" in csp
    assert headers["cache-control"] == "no-store"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
