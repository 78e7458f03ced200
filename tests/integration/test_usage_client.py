"""The producer client against the real usage handler (local API Gateway, DynamoDB Local), behind a loopback front
that plays API Gateway's part: it checks the SigV4 signature as IAM authorization does, and answers the failures
a producer meets (throttling, 5xx, a dropped connection, an answer lost after the events were stored). Whatever
happened on the way, the units stored are the units sent, each once."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from functions.handlers.usage import handler
from functions.settings import Dimension, Product, Settings, get_settings
from functions.usage.schema import MAX_EVENTS
from local.apigateway import LocalApiGateway, Route
from local.loopback import LoopbackServer, owner_of
from tests.usage_table import event_items
from usage_client import EventsRejected, UsageApiError, UsageApiUnavailable, UsageClient, usage_event

API_KEY = "client-test-key"
REGION = "eu-west-1"
PRODUCER = Credentials("AKIAPRODUCEREXAMPLE", "producer-secret")
PRODUCT = Product(code="client-product", name="Client", dimensions=(Dimension(name="api_calls"),))
LICENSE = "arn:aws:license-manager::123456789012:license:l-client1"
ACCOUNT = "210987654321"


def signature_is_valid(method: str, url: str, headers: dict[str, str], body: bytes) -> bool:
    """API Gateway's check: the request signed for execute-api in REGION with the producer's secret."""
    authorization = headers.get("Authorization", "")
    if not authorization.startswith("AWS4-HMAC-SHA256 "):
        return False
    parts = dict(p.strip().split("=", 1) for p in authorization.removeprefix("AWS4-HMAC-SHA256 ").split(","))
    signed = parts["SignedHeaders"].split(";")
    request = AWSRequest(method, url, data=body, headers={k: v for k, v in headers.items() if k.lower() in signed})
    request.context["timestamp"] = headers["X-Amz-Date"]
    auth = SigV4Auth(PRODUCER, "execute-api", REGION)
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    scope = f"{PRODUCER.access_key}/{headers['X-Amz-Date'][:8]}/{REGION}/execute-api/aws4_request"
    return parts["Credential"] == scope and parts["Signature"] == expected


@dataclass
class Front(LoopbackServer):
    """In front of the real API: ``script`` says what each request meets ("forward" once it is empty)."""

    target: str = ""
    sigv4: bool = False
    script: list[Any] = field(default_factory=list)
    seen: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    class handler_class(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            front: Front = owner_of(self)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            front.seen.append(body)
            action = front.script.pop(0) if front.script else "forward"
            headers = dict(self.headers.items())
            if front.sigv4:
                host_url = f"http://{self.headers['Host']}{self.path}"
                if not signature_is_valid("POST", host_url, headers, body):
                    return self._answer(403, b'{"message":"The request signature we calculated does not match"}')
                headers["x-api-key"] = API_KEY
            if action == "drop":  # the connection lost before the API saw the request
                self.close_connection = True
                return None
            if isinstance(action, int):
                return self._answer(action, b'{"message":"try again"}')
            if action == "in-flight":  # the API's answer to a resend whose first send may still be being written
                return self._answer(503, b'{"message":"send it again in a minute"}', {"Retry-After": "60"})
            status, answer = forward(front.target + self.path, body, headers)
            if action == "lose-answer":  # stored, but the answer never reaches the producer
                self.close_connection = True
                return None
            return self._answer(status, answer)

        def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


def forward(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    kept = {k: v for k, v in headers.items() if k.lower() in ("content-type", "x-api-key")}
    request = urllib.request.Request(url, data=body, method="POST", headers=kept)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@dataclass
class World:
    front: Front
    stored: Callable[[], list[dict[str, Any]]]
    sleeps: list[float]

    def client(self, **options: Any) -> UsageClient:
        if self.front.sigv4:
            session = boto3.Session(
                aws_access_key_id=PRODUCER.access_key, aws_secret_access_key=PRODUCER.secret_key, region_name=REGION
            )
            return UsageClient(self.front.url, session=session, sleep=self.sleeps.append, **options)
        return UsageClient(self.front.url, api_key=API_KEY, sleep=self.sleeps.append, **options)

    def units(self) -> Decimal:
        return sum((Decimal(item["q"]["S"]) for item in self.stored()), Decimal(0))


@pytest.fixture(params=["sigv4", "local-key"])
def world(
    request: pytest.FixtureRequest, settings: Settings, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
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
    with (
        LocalApiGateway([Route("POST", "/usage", handler, api_key=API_KEY)]) as gateway,
        Front(target=gateway.url, sigv4=request.param == "sigv4") as front,
    ):
        yield World(front, lambda: event_items(dynamodb, settings.usage_table), [])
    get_settings.cache_clear()


def event(quantity: int, **changes: Any) -> dict[str, Any]:
    return usage_event(
        PRODUCT.code, "api_calls", quantity, license_arn=LICENSE, customer_aws_account_id=ACCOUNT, **changes
    )


def test_events_are_sent_in_batches_within_the_limit_and_stored_once(world: World) -> None:
    events = [event(n % 7 + 1) for n in range(2 * MAX_EVENTS + 30)]
    sent = world.client().send(events)
    assert (len(sent.accepted), sent.requests) == (len(events), 3)
    assert [len(json.loads(b)["events"]) for b in world.front.seen] == [MAX_EVENTS, MAX_EVENTS, 30]
    assert world.units() == sum(e["quantity"] for e in events)
    # the same events again (a producer's own retry): counted once
    again = world.client().send(events)
    assert (len(again.accepted), len(again.duplicates)) == (0, len(events))
    assert world.units() == sum(e["quantity"] for e in events)


@pytest.mark.parametrize(
    "failures", [[429], [503, 502], [500, 504], ["drop"], ["lose-answer"], ["lose-answer", 503, "drop"]]
)
def test_retryable_failures_are_retried_with_the_same_events_and_counted_once(
    world: World, failures: list[Any]
) -> None:
    world.front.script.extend(failures)
    events = [event(5), event(7)]
    sent = world.client().send(events)
    assert sent.requests == len(failures) + 1
    assert len(set(world.front.seen)) == 1, "every attempt sends the same ids and timestamps"
    assert sorted(sent.accepted + sent.duplicates) == sorted(e["event_id"] for e in events)
    assert world.units() == 12
    assert len(world.sleeps) == len(failures)
    assert all(b >= a / 2 for a, b in zip(world.sleeps, world.sleeps[1:], strict=False))  # backing off


def test_a_retry_after_is_waited_for_and_the_identical_batch_sent_again(world: World) -> None:
    # fails on the client before: it retried at once, within the minute the API asked for
    world.front.script.extend(["in-flight"])
    events = [event(5)]
    sent = world.client().send(events)
    assert sent.requests == 2
    assert world.sleeps[0] >= 60
    assert len(set(world.front.seen)) == 1
    assert world.units() == 5


def test_an_event_resent_with_other_content_is_named_as_a_conflict(world: World) -> None:
    first = event(5, event_id="once")
    world.client().send([first])
    with pytest.raises(EventsRejected, match="once: quantity") as refused:
        world.client().send([{**first, "quantity": 6}])
    assert [(r.event["event_id"], r.field) for r in refused.value.rejections] == [("once", "quantity")]
    assert world.units() == 5


def test_a_refused_event_is_named_not_retried_and_its_batch_stores_nothing(world: World) -> None:
    good, bad = event(5), event(3, event_id="bad-one")
    bad["dimension"] = "unknown"
    with pytest.raises(EventsRejected, match="bad-one: dimension: unknown dimension") as refused:
        world.client().send([good, bad])
    assert [(r.event["event_id"], r.field) for r in refused.value.rejections] == [("bad-one", "dimension")]
    assert refused.value.sent.requests == 1
    assert world.stored() == []


def test_giving_up_after_the_last_attempt_says_what_is_unsent(world: World) -> None:
    world.front.script.extend([503, 503, 503])
    with pytest.raises(UsageApiUnavailable, match="503") as unavailable:
        world.client(attempts=3).send([event(1)])
    assert len(unavailable.value.unsent) == 1
    assert unavailable.value.sent.requests == 3
    assert world.stored() == []


def test_a_request_refused_as_a_whole_is_not_retried(world: World) -> None:
    world.front.script.append(403)
    with pytest.raises(UsageApiError, match="403") as refused:
        world.client().send([event(1)])
    assert refused.value.sent.requests == 1
    assert world.stored() == []


def test_after_a_refusal_midway_sending_what_is_unsent_counts_every_event_once(world: World) -> None:
    # Given a producer whose second batch is refused as a whole (its credentials expired between two requests)
    events = [event(n % 3 + 1) for n in range(MAX_EVENTS + 5)]
    units = sum(e["quantity"] for e in events)
    world.front.script.extend(["forward", 403])
    with pytest.raises(UsageApiError, match="403") as refused:
        world.client().send(events)
    # Then the first batch was stored, and what is unsent is the rest, ids and timestamps set
    assert len(refused.value.sent.accepted) == MAX_EVENTS
    assert len(refused.value.unsent) == 5
    assert all(e["event_id"] and e["timestamp"] for e in refused.value.unsent)
    # When the producer sends what is unsent once fixed, Then every event counts once, with the units it was sent with
    world.client().send(refused.value.unsent)
    assert len(world.stored()) == MAX_EVENTS + 5
    assert world.units() == units


@pytest.mark.parametrize("world", ["sigv4"], indirect=True)
def test_a_request_signed_with_other_credentials_is_refused(world: World) -> None:
    session = boto3.Session(aws_access_key_id=PRODUCER.access_key, aws_secret_access_key="wrong", region_name=REGION)
    with pytest.raises(UsageApiError, match="403"):
        UsageClient(world.front.url, session=session).send([event(1)])
    assert world.stored() == []
