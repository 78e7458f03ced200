"""``POST /usage`` over HTTP: the deployed handler behind the local API Gateway, configured by its environment,
storing into DynamoDB Local. Every refusal names the field, is a 4xx, and stores nothing."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from functions.handlers.usage import MAX_BODY_BYTES, handler
from functions.settings import Dimension, Product, Settings, get_settings
from local.apigateway import LocalApiGateway, Route
from tests.usage_table import event_items

API_KEY = "local-usage-key"
PRODUCT = Product(
    code="http-product",
    name="HTTP",
    dimensions=(Dimension(name="api_calls"), Dimension(name="gb", quantity_type="decimal")),
)
LICENSE = "arn:aws:license-manager::123456789012:license:l-http1"
ACCOUNT = "210987654321"


@pytest.fixture
def api(settings: Settings, dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # Given the handler configured as in Lambda, through its environment
    environment = {
        "CUSTOMERS_TABLE": settings.customers_table,
        "USAGE_TABLE": settings.usage_table,
        "METERING_TABLE": settings.metering_table,
        "IDEMPOTENCY_TABLE": settings.idempotency_table,
        "DYNAMODB_ENDPOINT": settings.dynamodb_endpoint or "",
        "AWS_REGION": "us-east-1",
        "PRODUCTS": json.dumps([asdict(PRODUCT)]),
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    DynamoCustomerRepository(dynamodb, settings.customers_table).put(
        Customer(CustomerRef(PRODUCT.code, license_arn=LICENSE), ACCOUNT, SubscriptionState.ACTIVE, datetime.now(UTC))
    )
    with LocalApiGateway([Route("POST", "/usage", handler, api_key=API_KEY)]) as gateway:

        def post(body: bytes, content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
            request = urllib.request.Request(
                f"{gateway.url}/usage",
                data=body,
                method="POST",
                headers={"Content-Type": content_type, "x-api-key": API_KEY},
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read())

        post.stored = lambda: event_items(dynamodb, settings.usage_table)  # type: ignore[attr-defined]
        yield post
    get_settings.cache_clear()


def _event(n: int = 0, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": f"e{n}",
        "product_code": PRODUCT.code,
        "license_arn": LICENSE,
        "customer_aws_account_id": ACCOUNT,
        "dimension": "api_calls",
        "quantity": 2,
        "timestamp": datetime.now(UTC).isoformat(),
    }
    event.update(changes)
    return event


def _body(*events: dict[str, Any]) -> bytes:
    return json.dumps({"events": list(events)}).encode()


def _fields(answer: dict[str, Any]) -> list[str]:
    return [e["field"] for e in answer["errors"]]


def test_a_good_batch_is_stored_and_a_repeat_counts_as_duplicates(api: Any) -> None:
    status, answer = api(_body(*(_event(n) for n in range(100))))
    assert (status, answer["accepted"], answer["duplicates"]) == (200, 100, 0)
    status, answer = api(_body(*(_event(n) for n in range(3))))
    assert (status, answer["accepted"], answer["duplicates"]) == (200, 0, 3)
    assert len(api.stored()) == 100


@pytest.mark.parametrize(
    ("body", "content_type", "status", "field"),
    [
        (_body(_event()), "text/plain", 415, "content-type"),
        (b'{"events": [', "application/json", 400, "body"),
        (b"[1, 2]", "application/json", 400, "body"),
        (b'{"events": ["' + b"x" * MAX_BODY_BYTES + b'"]}', "application/json", 413, "body"),
        (_body(*(_event(n) for n in range(101))), "application/json", 422, "events"),
        (b'{"events": [' + b"[" * 20_000 + b"]" * 20_000 + b"]}", "application/json", 400, "body"),
    ],
    ids=["content type", "malformed JSON", "not an object", "too large", "over 100 events", "nested 20,000 deep"],
)
def test_a_bad_request_is_refused_naming_why_and_nothing_is_stored(
    api: Any, body: bytes, content_type: str, status: int, field: str
) -> None:
    answered, answer = api(body, content_type)
    assert answered == status
    assert _fields(answer) == [field]
    assert api.stored() == []


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"product_code": "nope"}, "events[1].product_code"),
        ({"dimension": "nope"}, "events[1].dimension"),
        ({"license_arn": "arn:aws:license-manager::123456789012:license:l-unknown"}, "events[1].license_arn"),
        ({"quantity": -1}, "events[1].quantity"),
        ({"quantity": "1.5.2"}, "events[1].quantity"),
        ({"quantity": "2.5"}, "events[1].quantity"),  # a whole-unit dimension
        ({"timestamp": (datetime.now(UTC) + timedelta(hours=2)).isoformat()}, "events[1].timestamp"),
        # a key DynamoDB would refuse (over 2,048 bytes): not a licence ARN anyway, so a 422, never a 503 "retry"
        ({"license_arn": "\U0001f600" * 512}, "events[1].license_arn"),
        # the contract's one timestamp format: ISO 8601 with a time zone, never a guess at epoch numbers
        ({"timestamp": int(datetime.now(UTC).timestamp())}, "events[1].timestamp"),
        ({"timestamp": datetime.now(UTC).timestamp()}, "events[1].timestamp"),
        ({"timestamp": str(int(datetime.now(UTC).timestamp() * 1000))}, "events[1].timestamp"),
        ({"timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")}, "events[1].timestamp"),
    ],
)
def test_a_bad_event_is_a_422_naming_its_field_and_nothing_of_the_batch_is_stored(
    api: Any, bad: dict[str, Any], field: str
) -> None:
    status, answer = api(_body(_event(0), _event(1, **bad)))
    assert status == 422
    assert field in _fields(answer)
    assert api.stored() == []


def test_a_storage_failure_retrying_cannot_fix_is_a_500_that_does_not_say_retry(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a usage table that does not exist (a deployment mistake: DynamoDB answers ResourceNotFoundException)
    monkeypatch.setenv("USAGE_TABLE", "no-such-usage-table")
    get_settings.cache_clear()
    # When a good batch arrives
    status, answer = api(_body(_event(0)))
    # Then it is a 500 that tells the producer a retry will not help (never the 503 "send it again")
    assert status == 500
    assert "will not help" in answer["message"]
