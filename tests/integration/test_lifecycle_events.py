"""Lifecycle events against DynamoDB Local and the emulator: every ordering and duplication converges, a malformed
message fails alone, entitlements are read to the last page."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from functions.customers.lifecycle_store import DynamoLifecycleStore
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from functions.customers.subjects import agreement_subject, legacy_subject, licence_subject
from functions.customers.subscription import LifecycleKind, LifecycleTimes, buyer_times
from functions.handlers import lifecycle
from functions.settings import Settings
from local.apigateway import LambdaContext
from local.marketplace.testing import EmulatorHandle
from tests.aws_corpus import sqs_event
from tests.integration.lifecycle_world import LifecycleWorld, lifecycle_world

T0 = datetime(2026, 11, 26, 10, tzinfo=UTC)
PRODUCT = "evlegacy1"
CONTRACT = "evcontract1"
DIMENSIONS = [f"d{i:02}" for i in range(30)]

kinds = st.sampled_from(list(LifecycleKind))
moments = st.integers(min_value=0, max_value=6).map(lambda m: T0 + timedelta(minutes=10 * m))
events = st.lists(st.tuples(st.sampled_from(["agreement", "licence", "legacy"]), kinds, moments), max_size=8)


@given(history=events, data=st.data())
@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_ordering_and_duplication_of_a_buyers_events_ends_in_the_same_state(
    settings: Settings, dynamodb: Any, history: list[tuple[str, LifecycleKind, datetime]], data: st.DataObject
) -> None:
    # Given a registered legacy buyer (named by agreement, licence and legacy identifier alike)
    name = uuid.uuid4().hex[:12]
    customers = DynamoCustomerRepository(dynamodb, settings.customers_table)
    store = DynamoLifecycleStore(dynamodb, settings.customers_table)
    customer = Customer(
        ref=CustomerRef(PRODUCT, customer_identifier=name),
        customer_aws_account_id="111122223333",
        state=SubscriptionState.PENDING,
        state_changed_at=T0,
        agreement_id=f"agmt-{name}",
        legacy_license_arn=f"arn:aws:license-manager::294406891311:license:l-{name}",
    )
    customers.put(customer)
    subjects = {
        "agreement": agreement_subject(f"agmt-{name}"),
        "licence": licence_subject(f"l-{name}"),
        "legacy": legacy_subject(PRODUCT, name),
    }
    # When its events arrive in any order, some of them several times
    duplicates = data.draw(st.lists(st.sampled_from(history))) if history else []
    for source, kind, at in data.draw(st.permutations(history + duplicates)):
        store.record(subjects[source], kind, at)
    # Then the state is the one of the events in time order, each once
    expected: dict[str, LifecycleTimes] = {}
    for source, kind, at in sorted(history, key=lambda e: e[2]):
        expected[source] = expected.get(source, LifecycleTimes()).merge(kind, at)
    in_order = buyer_times(
        expected.get("licence", LifecycleTimes()),
        {f"agmt-{name}": expected.get("agreement", LifecycleTimes())},
        expected.get("legacy", LifecycleTimes()),
    )
    found = customers.get(customer.ref)
    assert found is not None
    assert found.state is (in_order.state if in_order.changed_at else SubscriptionState.PENDING)
    assert customers.lifecycle(customer).times == in_order


@pytest.fixture
def world(
    marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Settings], tmp_path: Path
) -> Iterator[LifecycleWorld]:
    products = [
        {"code": PRODUCT, "name": "Legacy", "customer_mode": "legacy", "dimensions": [{"name": "d00"}]},
        {"code": CONTRACT, "name": "Contract", "pricing": "contract", "dimensions": [{"name": d} for d in DIMENSIONS]},
    ]
    with lifecycle_world(marketplace, dynamodb, handler_environment, tmp_path, products) as lifecycle:
        yield lifecycle


def register(world: LifecycleWorld, subscription: dict[str, Any], legacy: bool) -> CustomerRef:
    ref = (
        CustomerRef(subscription["product_code"], customer_identifier=subscription["customer_identifier"])
        if legacy
        else CustomerRef(subscription["product_code"], license_arn=subscription["license_arn"])
    )
    world.customers.upsert_registration(
        Customer(
            ref=ref,
            customer_aws_account_id=subscription["account_id"],
            state=SubscriptionState.PENDING,
            state_changed_at=T0,
            registered_at=T0,
            agreement_id=subscription["agreement_id"],
            legacy_license_arn=subscription["license_arn"] if legacy else None,
        ),
        "nonce",
    )
    return ref


def test_a_malformed_message_fails_alone_and_the_others_are_applied(world: LifecycleWorld) -> None:
    marketplace = world.marketplace
    marketplace.admin.create_product(PRODUCT, ["d00"], customer_mode="legacy")
    subscription = marketplace.admin.subscribe(PRODUCT, "111122223333")
    ref = register(world, subscription, legacy=True)
    success = next(n["body"] for n in marketplace.admin.notifications() if n["channel"] == "sns")
    unknown_action = {**success, "MessageId": str(uuid.uuid4())}
    unknown_action["Message"] = json.dumps({**json.loads(success["Message"]), "action": "something-new"})
    no_identifier = {**success, "MessageId": str(uuid.uuid4()), "Message": json.dumps({"action": "subscribe-fail"})}
    # Given a batch: not JSON, a subscribe-success, a message missing its customer, an action nobody knows
    event = sqs_event(["{not json", success, no_identifier, unknown_action])
    response = lifecycle.handler(event, LambdaContext(function_name="lifecycle"))
    # Then only the two unreadable ones are reported (retried, then dead-lettered); the rest is acknowledged
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    assert failed == {event["Records"][0]["messageId"], event["Records"][2]["messageId"]}
    assert world.customer(ref).state is SubscriptionState.ACTIVE


def test_license_updated_of_a_contract_reads_every_entitlement_page(world: LifecycleWorld) -> None:
    admin = world.marketplace.admin
    admin.create_product(CONTRACT, DIMENSIONS, pricing="contract")
    # every second page is empty but carries a NextToken
    admin.put_config(entitlement_empty_page_every=2)
    subscription = admin.subscribe(CONTRACT, "444455556666")
    ref = register(world, subscription, legacy=False)
    admin.put_entitlements(
        subscription["agreement_id"], [{"dimension": d, "value": i} for i, d in enumerate(DIMENSIONS)]
    )
    updates = [
        n["body"]
        for n in admin.notifications()
        if n["topic"].startswith("License Updated") and n["step"] == "entitlements"
    ]
    assert world.handle(updates) == {"batchItemFailures": []}
    customer = world.customer(ref)
    assert [(e["dimension"], e["value"]) for e in customer.entitlements] == [(d, i) for i, d in enumerate(DIMENSIONS)]
    pages = [c for c in admin.calls() if c["operation"] == "GetEntitlements"]
    assert len(pages) >= 3  # 25, an empty page, 5
