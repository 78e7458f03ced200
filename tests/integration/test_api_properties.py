"""Property tests generated from the OpenAPI document (docs/openapi.json): requests built from its schemas, sent over
HTTP to the real handlers behind the local API Gateway, storing into DynamoDB Local (and the emulator for
registration). Whatever the request: never a 5xx, every answer's status and body as the document describes them,
and no partial write: a 2xx stored exactly what it says it accepted (with the units sent), a 4xx stored nothing.

Derandomized with a fixed example count, so CI runs the same requests every time.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docs.generate import OPENAPI
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from functions.handlers import usage
from functions.settings import Settings
from functions.usage.model import hour_of
from functions.usage.schema import MAX_EVENTS
from local.apigateway import LocalApiGateway, Route, registration_routes
from local.marketplace.testing import EmulatorHandle
from tests.schema_strategies import SchemaStrategies
from tests.usage_table import event_id

DOCUMENT = json.loads(OPENAPI.read_text())
SCHEMAS = SchemaStrategies(DOCUMENT)
EXAMPLES = 60
PROPERTY_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    # one gateway and one set of tables for all examples: each example leaves them as it found them
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
API_KEY = "property-key"
SECRET = "property-test-signing-secret"
LICENSED = "propertylicence"
LEGACY = "propertylegacy"
ACTIVE_LICENSE = "arn:aws:license-manager::123456789012:license:l-active"
PENDING_LICENSE = "arn:aws:license-manager::123456789012:license:l-pending"
ACCOUNT = "210987654321"
LEGACY_CUSTOMER = "legacy-customer-1"
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass
class Api:
    url: str
    settings: Settings
    dynamodb: Any
    marketplace: EmulatorHandle

    def post(self, path: str, body: bytes, content_type: str) -> tuple[int, str, bytes]:
        headers = {"Content-Type": content_type, "x-api-key": API_KEY}
        request = urllib.request.Request(self.url + path, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Content-Type", ""), error.read()

    def tables(self) -> list[str]:
        return [getattr(self.settings, f.name) for f in fields(self.settings) if f.name.endswith("_table")]

    def items(self, table: str) -> list[dict[str, Any]]:
        return list(self.dynamodb.scan(TableName=table, ConsistentRead=True)["Items"])

    def snapshot(self) -> dict[str, list[str]]:
        return {
            table: sorted(json.dumps(item, sort_keys=True) for item in self.items(table)) for table in self.tables()
        }

    def clear_usage(self) -> None:
        for item in self.items(self.settings.usage_table):
            self.dynamodb.delete_item(TableName=self.settings.usage_table, Key={"pk": item["pk"], "sk": item["sk"]})


@pytest.fixture
def api(dynamodb: Any, marketplace: EmulatorHandle, handler_environment: Callable[..., Settings]) -> Iterator[Api]:
    # Given the handlers configured as in Lambda, a licence product and a legacy one, and their customers
    products = [
        {"code": LICENSED, "name": "Licensed", "customer_mode": "license"},
        {"code": LEGACY, "name": "Legacy", "customer_mode": "legacy"},
    ]
    for product in products:
        marketplace.admin.create_product(
            product["code"], ["api_calls"], customer_mode=product["customer_mode"], fulfillment_url="http://x/register"
        )
    dimensions = [{"name": "api_calls"}, {"name": "gb", "quantity_type": "decimal"}]
    configured = handler_environment([{**p, "dimensions": dimensions} for p in products], SIGNING_SECRET=SECRET)
    customers = DynamoCustomerRepository(dynamodb, configured.customers_table)
    now = datetime.now(UTC)
    for ref, state in (
        (CustomerRef(LICENSED, license_arn=ACTIVE_LICENSE), SubscriptionState.ACTIVE),
        (CustomerRef(LICENSED, license_arn=PENDING_LICENSE), SubscriptionState.PENDING),
        (CustomerRef(LEGACY, customer_identifier=LEGACY_CUSTOMER), SubscriptionState.ACTIVE),
    ):
        customers.put(Customer(ref, ACCOUNT, state, now - timedelta(days=2)))
    routes = [*registration_routes(), Route("POST", "/usage", usage.handler, api_key=API_KEY)]
    with LocalApiGateway(routes) as gateway:
        yield Api(gateway.url, configured, dynamodb, marketplace)


def check_documented(path: str, status: int, content_type: str, body: bytes) -> None:
    """The answer is one the document lists for this operation, in the documented shape."""
    assert status < 500, (status, body[:500])
    responses = DOCUMENT["paths"][path]["post"]["responses"]
    assert str(status) in responses, f"{path} answered {status}, which docs/openapi.json does not list"
    ((media, described),) = responses[str(status)]["content"].items()
    assert content_type.split(";")[0] == media
    if media == JSON_TYPE:
        schema = {**described["schema"], "components": DOCUMENT["components"]}
        jsonschema.Draft202012Validator(schema).validate(json.loads(body))


# --- POST /usage ---------------------------------------------------------------------------------------------------

ACTIVE_NAMINGS = [
    {"product_code": LICENSED, "license_arn": ACTIVE_LICENSE, "customer_aws_account_id": ACCOUNT},
    {"product_code": LEGACY, "customer_identifier": LEGACY_CUSTOMER},
]
REFUSED_NAMINGS = [
    {"product_code": LICENSED, "license_arn": PENDING_LICENSE, "customer_aws_account_id": ACCOUNT},
    {"product_code": LICENSED, "license_arn": ACTIVE_LICENSE, "customer_aws_account_id": "999999999999"},
    {"product_code": LEGACY, "customer_identifier": "nobody"},
    {"product_code": LICENSED, "customer_identifier": LEGACY_CUSTOMER},
]


def _weighted(common: list[Any], rare: list[Any]) -> st.SearchStrategy[Any]:
    """Mostly one of ``common``, one time in eight one of ``rare``: so a batch of a few events is often all valid."""
    return st.integers(0, 7).flatmap(lambda n: st.sampled_from(rare if n == 0 else common))


@st.composite
def usage_events(draw: st.DrawFn, *, valid: bool = False) -> dict[str, Any]:
    """An event from the document's UsageEventIn schema, mostly re-aimed at the customers, dimensions, quantities and
    times that exist (else nearly every batch would be refused for one of them), sometimes left as generated;
    ``valid``: always re-aimed, never at what is refused."""

    def weighted(common: list[Any], rare: list[Any]) -> st.SearchStrategy[Any]:
        return st.sampled_from(common) if valid else _weighted(common, rare)

    event: dict[str, Any] = draw(SCHEMAS.strategy(SCHEMAS.component("UsageEventIn")))
    if not valid and draw(st.integers(0, 9)) == 0:
        return event
    for name in ("license_arn", "customer_aws_account_id", "customer_identifier", "allocations"):
        event.pop(name, None)
    event.update(draw(weighted(ACTIVE_NAMINGS, REFUSED_NAMINGS)))
    event["dimension"] = draw(weighted(["api_calls", "gb"], ["unknown"]))
    decimals = st.decimals(0, 10**6, places=3, allow_nan=False, allow_infinity=False).map(lambda d: f"{d:f}")
    event["quantity"] = draw(decimals if event["dimension"] == "gb" else st.integers(0, 10**6))
    event["event_id"] = draw(st.sampled_from(["a", "b", "c"]) | st.uuids().map(str))  # repeats within a batch too
    ago = draw(weighted([st.integers(-60, 3600)], [st.integers(-3600, 30 * 3600)]).flatmap(lambda s: s))
    event["timestamp"] = (datetime.now(UTC) - timedelta(seconds=ago)).isoformat()
    return event


def usage_bodies() -> st.SearchStrategy[tuple[bytes, str]]:
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
        max_leaves=10,
    )
    small = st.lists(usage_events(), min_size=1, max_size=5).map(lambda events: {"events": events})
    too_many = st.lists(usage_events(), min_size=MAX_EVENTS + 1, max_size=MAX_EVENTS + 1)
    as_json = st.one_of(
        small, too_many.map(lambda e: {"events": e}), SCHEMAS.strategy(SCHEMAS.component("UsageBatchIn")), json_values
    ).map(lambda body: (json.dumps(body).encode(), JSON_TYPE))
    raw = st.tuples(st.binary(max_size=64), st.sampled_from([JSON_TYPE, "text/plain", FORM_TYPE]))
    valid = st.lists(usage_events(valid=True), min_size=1, max_size=5).map(lambda events: {"events": events})
    # a third of the requests a producer's plausible batch (each may hold a bad event), a third a batch of valid
    # events (so stored batches are many, even when a busy store answers some 503), the rest anything
    return st.integers(0, 2).flatmap(
        lambda n: (
            st.one_of(as_json, raw)
            if n == 0
            else (small if n == 1 else valid).map(lambda body: (json.dumps(body).encode(), JSON_TYPE))
        )
    )


def _stored_as_sent(stored: list[dict[str, Any]], body: bytes, answer: dict[str, Any]) -> None:
    """Each accepted event is stored once (its item, and its identity), the first event of its id for its customer,
    with the units it was sent with (two customers' events may carry one id)."""
    accepted = sorted(r["event_id"] for r in answer["results"] if r["status"] == "accepted")
    events = [item for item in stored if item["pk"]["S"].startswith("U#")]
    identities = [item for item in stored if item["pk"]["S"].startswith("ID#")]
    assert len(events) + len(identities) == len(stored)
    assert sorted(event_id(item) for item in events) == accepted
    assert sorted(item["sk"]["S"] for item in identities) == accepted
    stored = events
    assert len(stored) == answer["accepted"]
    assert len(answer["results"]) == len(json.loads(body)["events"])
    for item in stored:
        at = datetime.fromisoformat(item["t"]["S"])
        first = next(
            e
            for e in json.loads(body)["events"]
            if e["event_id"] == event_id(item)
            and (e.get("license_arn"), e.get("customer_identifier"))
            == (item.get("l", {}).get("S"), item.get("i", {}).get("S"))
            and (e.get("timestamp") is None or hour_of(datetime.fromisoformat(e["timestamp"])) == hour_of(at))
        )
        assert Decimal(item["q"]["S"]) == Decimal(first["quantity"])


def test_no_usage_request_answers_5xx_or_stores_part_of_a_refused_batch(api: Api) -> None:
    outcomes: dict[int, int] = {}

    @PROPERTY_SETTINGS
    @given(usage_bodies())
    def post_usage(request: tuple[bytes, str]) -> None:
        body, content_type = request
        status, answered_type, answer = api.post("/usage", body, content_type)
        outcomes[status] = outcomes.get(status, 0) + 1
        try:
            check_documented("/usage", status, answered_type, answer)
            stored = api.items(api.settings.usage_table)
            if status == 200:
                _stored_as_sent(stored, body, json.loads(answer))
            else:
                assert stored == [], f"a {status} stored {len(stored)} events"
        finally:
            api.clear_usage()

    post_usage()
    # the generator reaches both sides of the property: stored batches and refused ones
    assert outcomes.get(200, 0) >= 5, outcomes
    assert outcomes.get(422, 0) >= 5, outcomes


# --- the registration routes ------------------------------------------------------------------------------------------


@st.composite
def registration_forms(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    path = draw(st.sampled_from(["/register", "/register/complete"]))
    schema = "RegistrationForm" if path == "/register" else "CompletionForm"
    return path, draw(SCHEMAS.strategy(SCHEMAS.component(schema)))


def test_no_registration_form_answers_5xx_or_stores_anything_when_refused(api: Api) -> None:
    outcomes: dict[int, int] = {}
    subscription = api.marketplace.admin.subscribe(LICENSED, ACCOUNT)

    @PROPERTY_SETTINGS
    @given(registration_forms(), st.booleans())
    def post_form(form: tuple[str, dict[str, Any]], real_token: bool) -> None:
        path, fields_ = form
        if real_token and path == "/register":  # a token AWS Marketplace issued: registers the buyer
            fields_[next(iter(DOCUMENT["components"]["schemas"]["RegistrationForm"]["required"]))] = (
                api.marketplace.admin.issue_token(subscription["agreement_id"])["registration_token"]
            )
        before = api.snapshot()
        status, answered_type, answer = api.post(path, urllib.parse.urlencode(fields_).encode(), FORM_TYPE)
        outcomes[status] = outcomes.get(status, 0) + 1
        check_documented(path, status, answered_type, answer)
        if status >= 400:
            assert api.snapshot() == before, f"a {status} on {path} changed what is stored"

    post_form()
    assert outcomes.get(200, 0) >= 1, outcomes
    assert sum(n for s, n in outcomes.items() if s >= 400) >= 10, outcomes
