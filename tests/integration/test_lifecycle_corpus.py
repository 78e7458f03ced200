"""Every one of AWS's published example notifications (tests/fixtures/aws), with only ids, accounts and times
substituted, through the real lifecycle handler inside real SQS records (SNS messages inside their envelope and, with
raw message delivery, bare), against DynamoDB Local and the emulator: each is handled as AWS means it, none is
dead-lettered."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.customers.model import CustomerRef, SubscriptionState
from functions.lifecycle.subjects import licence_id
from local.marketplace.testing import EmulatorHandle
from tests.aws_corpus import (
    EVENTBRIDGE_EXAMPLES,
    SNS_EXAMPLES,
    Parties,
    eventbridge_example,
    sns_envelope,
    sns_message,
    sns_topic,
)
from tests.integration.lifecycle_world import LifecycleWorld, lifecycle_world

PRODUCT = "corpuslicence1"
LEGACY = "corpuslegacy1"
BUYER = "845735284135"

ACTIVE, ENDING, ENDED, FAILED, PENDING = (
    SubscriptionState.ACTIVE,
    SubscriptionState.ENDING,
    SubscriptionState.ENDED,
    SubscriptionState.FAILED,
    SubscriptionState.PENDING,
)
# What each published example does to a registered buyer whose subscription is active (AWS's meaning, see
# functions.lifecycle.state.buyer_times): the agreement's and the licence's end open the final hour; a renewal, an
# amendment and the advance notice of a contract's end leave the buyer active.
EVENTBRIDGE_OUTCOMES = {
    "amended_manufacturer.json": ACTIVE,
    "amended_proposer.json": ACTIVE,
    "created_manufacturer.json": ACTIVE,
    "created_proposer_new.json": ACTIVE,
    "created_proposer_renew.json": ACTIVE,
    "ended_manufacturer.json": ENDING,
    "ended_proposer.json": ENDING,
    "ending_proposer.json": ACTIVE,
    "license_deprovisioned.json": ENDING,
    "license_updated.json": ACTIVE,
}
# legacy messages: (the state before, the state after)
SNS_OUTCOMES = {
    "subscription_subscribe-success.txt": (PENDING, ACTIVE),
    "subscription_subscribe-fail.txt": (PENDING, FAILED),
    "subscription_unsubscribe-pending.txt": (ACTIVE, ENDING),
    "subscription_unsubscribe-success.txt": (ACTIVE, ENDED),
    "entitlement_entitlement-updated.txt": (ACTIVE, ACTIVE),
}


@pytest.fixture
def world(
    marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Any], tmp_path: Path
) -> Iterator[LifecycleWorld]:
    marketplace.admin.create_product(PRODUCT, ["api_calls"], fulfillment_url="http://127.0.0.1:9/register")
    marketplace.admin.create_product(
        LEGACY, ["api_calls"], customer_mode="legacy", fulfillment_url="http://127.0.0.1:9/register"
    )
    products = [
        {"code": PRODUCT, "name": "Licence product", "dimensions": [{"name": "api_calls"}]},
        {
            "code": LEGACY,
            "name": "Legacy product",
            "customer_mode": "legacy",
            "legacy_sns": True,
            "dimensions": [{"name": "api_calls"}],
        },
    ]
    with lifecycle_world(marketplace, dynamodb, handler_environment, tmp_path, products) as lifecycle:
        yield lifecycle


def registered(world: LifecycleWorld, product: str) -> tuple[dict[str, Any], CustomerRef]:
    """A buyer subscribed in the emulator (its own notifications left undelivered) and registered with us."""
    subscription = world.marketplace.admin.subscribe(product, BUYER)
    world.register(subscription["registration_token"])
    world.seen = world.marketplace.admin.notifications()[-1]["seq"]
    if product == LEGACY:
        return subscription, CustomerRef(product, customer_identifier=subscription["customer_identifier"])
    return subscription, CustomerRef(product, license_arn=subscription["license_arn"])


def parties(subscription: dict[str, Any]) -> Parties:
    return Parties(
        buyer_account=subscription["account_id"],
        agreement_id=subscription["agreement_id"],
        licence_id=str(licence_id(subscription["license_arn"])),
        product_code=subscription["product_code"],
    )


def test_every_published_example_has_an_expected_outcome() -> None:
    assert set(EVENTBRIDGE_OUTCOMES) == set(EVENTBRIDGE_EXAMPLES)
    assert set(SNS_OUTCOMES) == set(SNS_EXAMPLES)


@pytest.mark.parametrize("example", sorted(EVENTBRIDGE_OUTCOMES))
def test_each_eventbridge_example_is_handled_as_aws_means_it(world: LifecycleWorld, example: str) -> None:
    # Given a registered buyer whose licence AWS announced (License Updated, as published)
    subscription, ref = registered(world, PRODUCT)
    assert world.customer(ref).state is PENDING
    names = parties(subscription)
    world.handle([eventbridge_example("license_updated.json", names, at=world.clock.now())])
    assert world.customer(ref).state is ACTIVE
    # When the example arrives, as EventBridge puts it on the queue
    world.handle([eventbridge_example(example, names, at=world.clock.now())])
    # Then it is acknowledged and leaves the buyer as AWS means it
    assert world.failures == []
    assert world.customer(ref).state is EVENTBRIDGE_OUTCOMES[example]


@pytest.mark.parametrize("raw_delivery", [False, True], ids=["sns-envelope", "raw-message-delivery"])
@pytest.mark.parametrize("example", sorted(SNS_OUTCOMES))
def test_each_sns_example_is_handled_as_aws_means_it(world: LifecycleWorld, example: str, raw_delivery: bool) -> None:
    before, after = SNS_OUTCOMES[example]
    subscription, ref = registered(world, LEGACY)
    identifier = subscription["customer_identifier"]

    def body(name: str) -> dict[str, Any] | str:
        message = sns_message(name, customer_identifier=identifier, product_code=LEGACY)
        return message if raw_delivery else sns_envelope(message, sns_topic(name, LEGACY), at=world.clock.now())

    # Given a legacy buyer in the state the message applies to
    if before is ACTIVE:
        world.handle([body("subscription_subscribe-success.txt")])
    assert world.customer(ref).state is before
    calls = len(world.marketplace.admin.calls(operation="GetEntitlements"))
    # When the published message arrives (its leading space and trailing comma as published)
    world.advance(1)
    world.handle([body(example)])
    # Then it is acknowledged and does what it says
    assert world.failures == []
    assert world.customer(ref).state is after
    if example.startswith("entitlement_"):
        assert len(world.marketplace.admin.calls(operation="GetEntitlements")) > calls
