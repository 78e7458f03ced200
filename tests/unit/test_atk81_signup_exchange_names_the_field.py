"""Attack review 81: the sign-up exchange (``POST /register/signup``, the seller's back end) answers JSON naming the
field for every refusal; a form field sent twice, or not UTF-8, is refused naming ``"field": "body"``, though the
message says which form field it is (``x-marketplace-registration``, ``signature``). A seller's back end mapping the
refusal by ``field`` (as it does for every other refusal of the exchange) is pointed at the wrong thing. Not new in
9d58140: the hand-routed handler keeps what the resolver's exception handler answered."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from functions.handlers import registration
from functions.registration import signing
from functions.wiring import registration as registration_wiring
from local.apigateway import LambdaContext, proxy_event

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def exchanged(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []

    def exchange(*args: Any) -> dict[str, str]:
        calls.append(args)
        return {"product_code": "p"}

    wiring = SimpleNamespace(
        registrations=SimpleNamespace(),
        signups=SimpleNamespace(exchange=exchange),
        idempotency=SimpleNamespace(register_lambda_context=lambda context: None),
        deadline=SimpleNamespace(start=lambda context: None),
    )
    monkeypatch.setattr(registration_wiring, "build", lambda settings: wiring)
    return calls


def exchange(body: bytes) -> dict[str, Any]:
    event = proxy_event("POST", "/register/signup", "/register/signup", headers={"Content-Type": [FORM]}, body=body)
    answer: dict[str, Any] = registration.handler(event, LambdaContext(function_name="registration-atk81"))
    return answer


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"x-marketplace-registration=a&x-marketplace-registration=b&signature=s", signing.SIGNUP_PARAMETER),
        (b"x-marketplace-registration=a&signature=s&signature=t", signing.SIGNATURE_FIELD),
        (b"x-marketplace-registration=%ff&signature=s", signing.SIGNUP_PARAMETER),
    ],
    ids=["value twice", "signature twice", "value not utf-8"],
)
def test_a_refused_form_field_is_the_field_named(exchanged: list[tuple[Any, ...]], body: bytes, field: str) -> None:
    answer = exchange(body)
    assert exchanged == []
    assert answer["statusCode"] == 400
    assert answer["multiValueHeaders"]["Content-Type"] == ["application/json"]
    refusal = json.loads(answer["body"])
    assert field in refusal["message"]  # the message names it ...
    assert refusal["field"] == field  # ... and so must the field the seller's back end reads
