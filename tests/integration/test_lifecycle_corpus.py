"""Every one of AWS's published example notifications (tests/fixtures/aws), with only ids, accounts and times
substituted, through the real lifecycle handler inside real SQS records (SNS messages inside their envelope and, with
raw message delivery, bare), against DynamoDB Local and the emulator: each is handled as AWS means it, none is
dead-lettered."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from functions.customers.model import CustomerRef, SubscriptionState
from functions.customers.subjects import licence_id
from functions.lifecycle.service import CUSTOMER_ACTIVATED
from functions.seller_events import CUSTOMER_REGISTERED, RecordingPublisher
from functions.settings import get_settings
from functions.wiring import registration as registration_wiring
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
# functions.customers.subscription.buyer_times): the agreement's and the licence's end open the final hour; a
# renewal, an amendment and the advance notice of a contract's end leave the buyer active.
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
    # the seller's other events: an approved cancellation request cancels the agreement, the rest are kept as notices
    "advisory_issued_manufacturer.json": ACTIVE,
    "advisory_resolved_manufacturer.json": ACTIVE,
    "renewal_terms_finalized_proposer.json": ACTIVE,
    "renewal_upcoming_proposer.json": ACTIVE,
    "cancellation_pending_approval_proposer.json": ACTIVE,
    "cancellation_approved_proposer.json": ENDING,
    "cancellation_rejected_proposer.json": ACTIVE,
    "cancellation_cancelled_proposer.json": ACTIVE,
    "cancellation_validation_failed_proposer.json": ACTIVE,
    "billing_adjustment_completed_proposer.json": ACTIVE,
    "billing_adjustment_failed_proposer.json": ACTIVE,
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


def test_an_event_type_aws_adds_later_is_acknowledged_and_changes_nothing(world: LifecycleWorld) -> None:
    subscription, ref = registered(world, PRODUCT)
    names = parties(subscription)
    world.handle([eventbridge_example("license_updated.json", names, at=world.clock.now())])
    new_type = {
        **eventbridge_example("ended_proposer.json", names),
        "detail-type": "Purchase Agreement Paused - Proposer",
    }
    world.handle([new_type])
    assert world.failures == []  # not retried for ever, not dead-lettered: logged and counted (the handler's metric)
    assert world.customer(ref).state is ACTIVE


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


# AWS's published subscribe-success says isFreeTrialTermPresent "true"
FREE_TRIAL_SUBSCRIBE_SUCCESS = "subscription_subscribe-success.txt"


def legacy_subscribe_success(identifier: str, at: datetime) -> dict[str, Any]:
    message = sns_message(FREE_TRIAL_SUBSCRIBE_SUCCESS, customer_identifier=identifier, product_code=LEGACY)
    return sns_envelope(message, sns_topic(FREE_TRIAL_SUBSCRIBE_SUCCESS, LEGACY), at=at)


def agreement_terms_unreadable(world: LifecycleWorld) -> None:
    """GetAgreementTerms fails on both of the registration's tries: only the notification can confirm a trial."""
    world.marketplace.admin.queue_errors({"operation": "GetAgreementTerms", "code": "ThrottlingException", "count": 2})


def test_a_legacy_subscribe_success_with_a_free_trial_term_confirms_the_free_trial(world: LifecycleWorld) -> None:
    # Given a registered legacy buyer whose registration could not confirm a free trial
    agreement_terms_unreadable(world)
    subscription, ref = registered(world, LEGACY)
    assert world.customer(ref).free_trial is False
    # When AWS's published subscribe-success about them arrives
    world.advance(1)
    world.handle([legacy_subscribe_success(subscription["customer_identifier"], world.clock.now())])
    # Then the buyer is subscribed, on a confirmed free trial, and announced so
    assert world.failures == []
    customer = world.customer(ref)
    assert (customer.state, customer.free_trial) == (ACTIVE, True)
    activated = [detail for kind, detail in world.published() if kind == CUSTOMER_ACTIVATED]
    assert [(d["customer_identifier"], d["free_trial"]) for d in activated] == [(ref.customer_identifier, True)]


def test_a_free_trial_confirmed_before_the_buyer_registers_applies_once_they_do(world: LifecycleWorld) -> None:
    # Given AWS's subscribe-success (a free trial) about a legacy buyer who has not registered yet
    subscription = world.marketplace.admin.subscribe(LEGACY, BUYER)
    world.seen = world.marketplace.admin.notifications()[-1]["seq"]
    ref = CustomerRef(LEGACY, customer_identifier=subscription["customer_identifier"])
    world.handle([legacy_subscribe_success(subscription["customer_identifier"], world.clock.now())])
    assert world.failures == []
    # When the buyer registers, and the registration cannot read the agreement's terms
    agreement_terms_unreadable(world)
    world.advance(1)
    world.register(subscription["registration_token"])
    # Then the free trial is confirmed, and "Customer Registered" says so
    customer = world.customer(ref)
    assert (customer.free_trial, customer.free_trial_claimed) == (True, False)
    publisher = registration_wiring.build(get_settings()).registrations.publisher
    assert isinstance(publisher, RecordingPublisher)
    (registered_detail,) = [e.detail for e in publisher.events if e.detail_type == CUSTOMER_REGISTERED]
    assert registered_detail["free_trial"] is True


def test_a_newer_paid_subscription_ends_the_free_trial_and_a_late_older_message_does_not_undo_it(
    world: LifecycleWorld,
) -> None:
    # Given a legacy buyer on a free trial, told by the emulator's own notifications (isFreeTrialTermPresent "true")
    trial = world.marketplace.admin.subscribe(LEGACY, BUYER, free_trial=True)
    world.register(trial["registration_token"])
    world.deliver("sns")
    ref = CustomerRef(LEGACY, customer_identifier=trial["customer_identifier"])
    assert world.customer(ref).free_trial is True
    trial_started = world.clock.now()
    # When the trial's subscription ends and the buyer subscribes again, paid, under the same customer identifier
    world.advance(60)
    world.marketplace.admin.finalize(trial["agreement_id"])
    world.deliver("sns")
    assert world.customer(ref).state is ENDED
    world.advance(60)
    paid = world.marketplace.admin.subscribe(LEGACY, BUYER)
    assert paid["customer_identifier"] == trial["customer_identifier"]
    world.deliver("sns")
    # Then the newer subscribe-success ("false") is Marketplace's word on the current subscription
    assert world.failures == []
    customer = world.customer(ref)
    assert (customer.state, customer.free_trial) == (ACTIVE, False)
    # and AWS's subscribe-success saying "true", dated in the trial, arriving late, changes nothing
    world.handle([legacy_subscribe_success(trial["customer_identifier"], trial_started)])
    assert world.failures == []
    assert world.customer(ref).free_trial is False
