"""Strict input at every public entry point: the registration routes, the usage API and the operator CLI, through
the real handlers (proxy events as API Gateway sends them) and the CLI's own ``main``, on DynamoDB Local and the
emulator. A value is checked whole: a pattern never lets a trailing newline through."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.handlers import usage
from functions.registration import signing
from functions.settings import Settings, settings_environment
from local.apigateway import LambdaContext, proxy_event
from local.marketplace.testing import EmulatorHandle
from operations.cli import main
from operations.target import local_target
from tests.integration.registration_world import (
    BUYER,
    LEGACY_PRODUCT,
    LICENSE_PRODUCT,
    REDIRECT_PRODUCT,
    SECRET,
    SIGNUP_URL,
    Harness,
    cli,
    completion_value,
    registration_harness,
    seller_signup,
    signup_value,
)

ROOT = Path(__file__).resolve().parents[2]
DECIMAL_PRODUCT = "strictdecimal1"
PRODUCTS: list[dict[str, Any]] = [
    {"code": LICENSE_PRODUCT, "name": "Acme Analytics"},
    {"code": LEGACY_PRODUCT, "name": "Acme Legacy", "customer_mode": "legacy"},
    {"code": REDIRECT_PRODUCT, "name": "Acme Redirect", "signup_redirect_url": SIGNUP_URL},
    {"code": DECIMAL_PRODUCT, "name": "Acme Storage", "dimensions": [{"name": "gb", "quantity_type": "decimal"}]},
]


@pytest.fixture
def harness(marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Settings]) -> Harness:
    return registration_harness(marketplace, dynamodb, handler_environment, products=PRODUCTS)


def post_usage(events: list[dict[str, Any]]) -> dict[str, Any]:
    body = json.dumps({"events": events}).encode()
    event = proxy_event("POST", "/usage", "/usage", headers={"Content-Type": ["application/json"]}, body=body)
    response: dict[str, Any] = usage.handler(event, LambdaContext(function_name="usage-test"))
    return response


def active_customer(harness: Harness, product_code: str) -> Customer:
    subscription = harness.subscribe(product_code)
    customer = Customer(
        CustomerRef(product_code, license_arn=subscription["license_arn"]),
        BUYER,
        SubscriptionState.ACTIVE,
        datetime.now(UTC),
    )
    harness.customers().put(customer)
    return customer


def legacy_customer(harness: Harness) -> Customer:
    subscription = harness.subscribe(LEGACY_PRODUCT)
    customer = Customer(
        CustomerRef(LEGACY_PRODUCT, customer_identifier=subscription["customer_identifier"]),
        BUYER,
        SubscriptionState.ACTIVE,
        datetime.now(UTC),
    )
    harness.customers().put(customer)
    return customer


def signup_claims(harness: Harness, product_code: str = REDIRECT_PRODUCT) -> dict[str, Any]:
    """A buyer registered for a product with the seller's own sign-up page, and the claims its back end got for
    them (the sign-up exchange)."""
    return seller_signup(harness, harness.register(harness.subscribe(product_code)["registration_token"]))


def test_a_value_with_a_trailing_newline_matches_no_pattern(harness: Harness) -> None:
    # A registration token with a newline after it is refused before AWS Marketplace is asked
    response = harness.register("a-well-formed-token\n")
    assert response["statusCode"] == 400
    assert "Registration token not valid" in response["body"]
    assert harness.marketplace.admin.calls(operation="ResolveCustomer") == []
    # The seller's sign-up page linking a buyer to "acme-42\n" is refused, and nothing is linked
    claims = signup_claims(harness)
    now = datetime.now(UTC).timestamp()
    link = signing.tenant_link(claims, "acme-42\n", SECRET, now=now)
    refused = harness.post("/register/tenant", urllib.parse.urlencode({signing.TENANT_LINK_FIELD: link}))
    assert refused["statusCode"] == 400, refused["body"]
    assert [c.tenant_id for c in harness.customers().list_all()] == [None]
    # So is the operator's set-tenant, naming the field
    status, _, err = cli(harness, "set-tenant", BUYER, "acme-42\n")
    assert status == 2
    assert "tenant_id" in err
    assert [c.tenant_id for c in harness.customers().list_all()] == [None]
    # And a usage quantity "1.5\n" is not the decimal 1.5: refused naming the field, nothing stored
    customer = active_customer(harness, DECIMAL_PRODUCT)
    answer = post_usage(
        [
            {
                "event_id": "e-1",
                "product_code": DECIMAL_PRODUCT,
                "license_arn": customer.ref.license_arn,
                "customer_aws_account_id": BUYER,
                "dimension": "gb",
                "quantity": "1.5\n",
                "timestamp": datetime.now(UTC).isoformat(),
            }
        ]
    )
    assert answer["statusCode"] == 422, answer["body"]
    assert "events[0].quantity" in [e["field"] for e in json.loads(answer["body"])["errors"]]
    assert harness.items(harness.settings.usage_table) == []


# --- every public field and CLI argument, walked with four kinds of bad input ----------------------------------------

TEN_KB = "x" * 10_240
NOT_UTF8 = b"\xff\xfe"  # what no UTF-8 text holds; argv delivers it to Python as surrogate escapes
BAD_INPUTS: dict[str, Callable[[str], str | bytes]] = {
    "trailing newline": lambda valid: valid + "\n",
    "NUL": lambda valid: valid + "\x00",
    "10 kB": lambda valid: TEN_KB,
    "not UTF-8": lambda valid: NOT_UTF8,
}


def form(fields: Mapping[str, str | bytes]) -> bytes:
    return urllib.parse.urlencode(fields).encode()


def stored(harness: Harness) -> dict[str, list[dict[str, Any]]]:
    tables = ("customers_table", "contacts_table", "usage_table", "metering_table")
    return {name: harness.items(getattr(harness.settings, name)) for name in tables}


def test_every_registration_field_refuses_bad_input_naming_it_and_stores_nothing(harness: Harness) -> None:
    # Given a buyer with an open onboarding form, and another sent to the seller's sign-up page
    token = harness.subscribe()["registration_token"]
    onboarding = harness.register(token)
    assert onboarding["statusCode"] == 200, onboarding["body"]
    completion = completion_value(onboarding["body"])
    claims = signup_claims(harness)
    now = datetime.now(UTC).timestamp()
    contact = {"company": "Acme", "contact_name": "Ada", "email": "ada@example.com", "phone": "+1 555 0100"}
    another = harness.subscribe(REDIRECT_PRODUCT, "444455556666")
    unexchanged = signup_value(harness.register(another["registration_token"]))

    def replacing(valid: dict[str, str], name: str) -> Callable[[str | bytes], dict[str, str | bytes]]:
        return lambda value: {**valid, name: value}

    def signed_exchange(value: str | bytes) -> dict[str, str | bytes]:
        # the seller's back end signs whatever it posts: a bad value arrives with a good signature of it (bytes that
        # are not text cannot be signed: the form's reading refuses them first)
        if isinstance(value, bytes):
            return {signing.SIGNUP_PARAMETER: value, signing.SIGNATURE_FIELD: "unsigned"}
        return {**signing.signup_exchange(value, SECRET)}

    token_form = {"x-amzn-marketplace-token": token}
    trial_form = {**token_form, "x-amzn-marketplace-offer-type": "free-trial"}
    completion_form = {"registration": completion, **contact}
    exchange_form = signing.signup_exchange(unexchanged, SECRET)
    link_form = {signing.TENANT_LINK_FIELD: signing.tenant_link(claims, "acme-42", SECRET, now=now)}
    # each public field: the route, its valid value, the form with another value there, what its refusal says
    fields: list[tuple[str, str, Callable[[str | bytes], dict[str, str | bytes]], str]] = [
        ("/register", token, replacing(token_form, "x-amzn-marketplace-token"), "Registration token"),
        ("/register", "free-trial", replacing(trial_form, "x-amzn-marketplace-offer-type"), "offer type"),
        ("/register/complete", completion, replacing(completion_form, "registration"), "Form"),
        *[
            ("/register/complete", contact[name], replacing(completion_form, name), label)
            for name, label in [
                ("company", "Company"),
                ("contact_name", "Contact name"),
                ("email", "Email"),
                ("phone", "Phone"),
            ]
        ],
        ("/register/signup", unexchanged, signed_exchange, f'"field": "{signing.SIGNUP_PARAMETER}"'),
        (
            "/register/signup",
            exchange_form[signing.SIGNATURE_FIELD],
            replacing(exchange_form, signing.SIGNATURE_FIELD),
            f'"field": "{signing.SIGNATURE_FIELD}"',
        ),
        ("/register/tenant", link_form[signing.TENANT_LINK_FIELD], replacing(link_form, "tenant_link"), "Link"),
    ]
    before = stored(harness)
    resolves = len(harness.marketplace.admin.calls(operation="ResolveCustomer"))
    for route, valid, with_value, says in fields:
        for kind, bad in BAD_INPUTS.items():
            # When that one field carries bad input
            response = harness.post(route, form(with_value(bad(valid))))
            # Then a 4xx answer says what is wrong with it, and nothing is stored or asked of Marketplace
            case = f"{route} {says} with {kind}"
            assert 400 <= response["statusCode"] < 500, (case, response["statusCode"], response["body"])
            # by its label or name, or by its name where the form itself could not be read
            assert says in response["body"] or " is not UTF-8 text" in response["body"], (case, response["body"])
            assert stored(harness) == before, case
            assert len(harness.marketplace.admin.calls(operation="ResolveCustomer")) == resolves, case
    # and the tenant id inside a link the seller signed is checked the same way
    for kind, bad in BAD_INPUTS.items():
        tenant = bad("acme-42")
        link = signing.tenant_link(
            claims, tenant if isinstance(tenant, str) else tenant.decode(errors="surrogateescape"), SECRET, now=now
        )
        response = harness.post("/register/tenant", form({signing.TENANT_LINK_FIELD: link}))
        assert response["statusCode"] == 400, (kind, response["body"])
        assert "tenant_id" in response["body"], (kind, response["body"])
        assert stored(harness) == before, kind


def test_every_usage_field_refuses_bad_input_naming_it_and_stores_nothing(harness: Harness) -> None:
    # Given an active buyer of a product metered by licence, and one of a legacy product (by customer identifier)
    licensed = active_customer(harness, LICENSE_PRODUCT)
    legacy = legacy_customer(harness)
    now = datetime.now(UTC).isoformat()
    by_licence: dict[str, Any] = {
        "event_id": "e-1",
        "product_code": LICENSE_PRODUCT,
        "license_arn": licensed.ref.license_arn,
        "customer_aws_account_id": BUYER,
        "dimension": "api_calls",
        "quantity": 3,
        "timestamp": now,
    }
    by_identifier = {
        **{k: v for k, v in by_licence.items() if k not in {"license_arn", "customer_aws_account_id"}},
        "product_code": LEGACY_PRODUCT,
        "customer_identifier": legacy.ref.customer_identifier,
    }
    assert post_usage([{**by_licence, "event_id": "e-0"}, {**by_identifier, "event_id": "e-00"}])["statusCode"] == 200
    before = stored(harness)

    def allocated(key: str, value: str) -> dict[str, Any]:
        return {**by_licence, "allocations": [{"tags": {key: value}, "quantity": 3}]}

    # each public field: (its name in the refusal, the valid value, the event with another value there)
    fields: list[tuple[str, str, Callable[[str], dict[str, Any]]]] = [
        *[(name, str(by_licence[name]), replacing(by_licence, name)) for name in by_licence],
        (
            "customer_identifier",
            str(legacy.ref.customer_identifier),
            lambda v: {**by_identifier, "customer_identifier": v},
        ),
        ("allocations", "team", lambda v: allocated(v, "blue")),
        ("allocations", "blue", lambda v: allocated("team", v)),
    ]
    for name, sample, event in fields:
        for kind, bad in BAD_INPUTS.items():
            case = f"{name} with {kind}"
            value = bad(sample)
            if isinstance(value, bytes):
                # JSON is UTF-8 text: such bytes arrive raw in the body (the body is refused whole, naming it), or
                # escaped as an unpaired surrogate (the field is refused, named)
                raw = json.dumps({"events": [event("PLACEHOLDER")]}).encode().replace(b"PLACEHOLDER", value)
                answers = [(post_raw_usage(raw), "body"), (post_usage([event("\udcff")]), f"events[0].{name}")]
            else:
                answers = [(post_usage([event(value)]), f"events[0].{name}")]
            for answer, named in answers:
                assert 400 <= answer["statusCode"] < 500, (case, answer["body"])
                errors = [e["field"] for e in json.loads(answer["body"])["errors"]]
                assert any(field.startswith(named) for field in errors), (case, errors)
                assert stored(harness) == before, case


def replacing(event: dict[str, Any], name: str) -> Callable[[str], dict[str, Any]]:
    return lambda value: {**event, name: value}


def post_raw_usage(body: bytes) -> dict[str, Any]:
    event = proxy_event("POST", "/usage", "/usage", headers={"Content-Type": ["application/json"]}, body=body)
    response: dict[str, Any] = usage.handler(event, LambdaContext(function_name="usage-test"))
    return response


CLI_ARGUMENTS: list[tuple[list[str], str]] = [
    # (the command line with {} where the value goes, the option the refusal names)
    (["customers", "--product", "{}"], "product"),
    (["customers", "--tenant", "{}"], "--tenant"),
    (["set-tenant", "{}", "acme-42"], "customer"),
    (["set-tenant", BUYER, "{}"], "tenant_id"),
    (["set-tenant", BUYER, "acme-42", "--product", "{}"], "product"),
    *[
        ([command, option, "{}"], name)
        for command in ("usage", "failed", "redrive")
        for option, name in [
            ("--product", "product"),
            ("--customer", "customer"),
            ("--dimension", "dimension"),
            ("--since", "--since"),
            ("--until", "--until"),
        ]
    ],
    (["forget-customer", "{}"], "customer"),
    (["forget-customer", BUYER, "--product", "{}"], "product"),
    *[
        (["reconcile", option, "{}"], name)
        for option, name in [
            ("--from", "--from"),
            ("--to", "--to"),
            ("--product", "product"),
            ("--customer", "customer"),
            ("--dimension", "dimension"),
        ]
    ],
    (["report", "--month", "{}", "--html", "report.html"], "--month"),
    (["report", "--month", "{month}", "--html", "{}"], "--html"),
]
COMMON_ARGUMENTS: list[tuple[list[str], str]] = [
    (["customers", "--run-file", "{}"], "--run-file"),
    (["customers", "--stack", "{}"], "--stack"),
    (["customers", "--stack", "MarketplaceMetering", "--region", "{}"], "--region"),
    (["customers", "--stack", "MarketplaceMetering", "--profile", "{}"], "profile"),
]


def test_every_cli_argument_refuses_bad_input_in_one_line(harness: Harness, tmp_path: Any) -> None:
    # Given a registered buyer and the CLI on this stack's tables (the local target, as make run's)
    active_customer(harness, LICENSE_PRODUCT)
    target = local_target(harness.settings, credentials={})
    before = stored(harness)
    for argv, names in [*[(a, n) for a, n in CLI_ARGUMENTS], *COMMON_ARGUMENTS]:
        for kind, bad in BAD_INPUTS.items():
            value = bad(datetime.now(UTC).strftime("%Y-%m") if "--month" in argv else "valid")
            text = value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value  # as argv gives it
            # a file name goes under tmp_path: nothing may be written, and nothing outside it could be
            line = [
                str(tmp_path / (text if a == "{}" else a)) if argv[i - 1] == "--html" else text if a == "{}" else a
                for i, a in enumerate(a.replace("{month}", datetime.now(UTC).strftime("%Y-%m")) for a in argv)
            ]
            out, err = io.StringIO(), io.StringIO()
            common = any(a in argv for a in ("--run-file", "--stack"))
            status = main(line, out=out, err=err, target=None if common else (lambda _: target), environ={})
            case = f"{argv} with {kind}"
            assert status == 2, (case, status, err.getvalue())
            assert err.getvalue().startswith("error: "), (case, err.getvalue())
            assert err.getvalue().count("\n") == 1, (case, err.getvalue())
            assert names in err.getvalue(), (case, err.getvalue())
            assert stored(harness) == before, case
    assert list(tmp_path.iterdir()) == []  # no report was written


def test_a_real_process_given_argv_bytes_that_are_not_utf8_answers_one_line(harness: Harness, tmp_path: Any) -> None:
    # Given the CLI as an operator runs it, found through the environment naming this stack's tables
    active_customer(harness, LICENSE_PRODUCT)
    environment = {**os.environ, **settings_environment(harness.settings), "PYTHONPATH": str(ROOT)}
    before = stored(harness)
    for argv in (
        [b"customers", b"--tenant", NOT_UTF8],
        [b"usage", b"--customer", NOT_UTF8],
        [b"set-tenant", BUYER.encode(), b"acme-" + NOT_UTF8],
        [
            b"report",
            b"--month",
            datetime.now(UTC).strftime("%Y-%m").encode(),
            b"--html",
            bytes(tmp_path) + b"/" + NOT_UTF8,
        ],
    ):
        # When an argument's bytes are not UTF-8
        run = subprocess.run(
            [sys.executable.encode(), b"-m", b"operations.cli", *argv, b"--run-file", bytes(tmp_path / "none.json")],
            env=environment,
            capture_output=True,
            timeout=120,
            check=False,
        )
        # Then one line says so, escaped, with exit status 2: no traceback, nothing stored or written
        assert run.returncode == 2, (argv, run.stderr)
        assert run.stderr.startswith(b"error: "), (argv, run.stderr)
        assert run.stderr.count(b"\n") == 1, (argv, run.stderr)
        assert b"\\udcff" in run.stderr or b"tenant_id" in run.stderr, (argv, run.stderr)
        assert stored(harness) == before, argv
    assert list(tmp_path.iterdir()) == []
