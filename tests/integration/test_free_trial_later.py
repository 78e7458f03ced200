"""A free-trial claim AWS Marketplace could not confirm while the buyer registered is confirmed later: registration
leaves a timer on the lifecycle queue, the lifecycle function asks GetAgreementTerms again until Marketplace answers,
and a claim still unconfirmed a day later is counted once (metric FreeTrialClaimsUnconfirmed, which raises an alarm).
Through the real registration and lifecycle handlers, DynamoDB Local, the emulator and the queue on moto, on one
moved clock."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.customers.model import Customer, CustomerRef
from functions.seller_events import CUSTOMER_FREE_TRIAL_CONFIRMED
from local.marketplace.testing import EmulatorHandle
from tests.integration.lifecycle_world import LifecycleWorld, lifecycle_world

PRODUCT = "trialater1"
BUYER = "111122223333"
CLAIMS_FREE_TRIAL = {"x-amzn-marketplace-offer-type": "free-trial"}


@pytest.fixture
def world(
    marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Any], tmp_path: Path
) -> Iterator[LifecycleWorld]:
    marketplace.admin.create_product(PRODUCT, ["api_calls"], fulfillment_url="http://127.0.0.1:9/register")
    products = [{"code": PRODUCT, "name": "Trial product", "dimensions": [{"name": "api_calls"}]}]
    with lifecycle_world(marketplace, dynamodb, handler_environment, tmp_path, products) as started:
        yield started


def customer_of(world: LifecycleWorld, subscription: dict[str, Any]) -> Customer:
    return world.customer(CustomerRef(PRODUCT, license_arn=subscription["license_arn"]))


def terms_reads(world: LifecycleWorld) -> int:
    return len(world.marketplace.admin.calls(operation="GetAgreementTerms"))


def published(capsys: pytest.CaptureFixture[str], metric: str) -> int:
    """How many times the functions counted ``metric`` (their metrics, in CloudWatch's embedded format)."""
    return len(re.findall(rf'"{metric}":\[1\.0\]', capsys.readouterr().out))


def test_a_claim_marketplace_could_not_confirm_at_registration_is_confirmed_later(world: LifecycleWorld) -> None:
    # Given a free-trial buyer whose agreement's terms cannot be read while they register (throttled, every retry)
    trial = world.marketplace.admin.subscribe(PRODUCT, BUYER, free_trial=True)
    world.deliver()
    world.marketplace.admin.queue_errors({"operation": "GetAgreementTerms", "code": "ThrottlingException", "count": 2})
    world.register(trial["registration_token"], **CLAIMS_FREE_TRIAL)
    registered = customer_of(world, trial)
    assert (registered.free_trial, registered.free_trial_claimed) == (False, True)
    assert world.marketplace.admin.get_faults()["next_errors"] == []
    # When the timer registration left comes due, and Marketplace answers now
    world.pass_time(120, step=60)
    # Then the claim is confirmed, and the seller is told
    confirmed = customer_of(world, trial)
    assert (confirmed.free_trial, confirmed.free_trial_claimed) == (True, True)
    assert confirmed.free_trial_known_at is not None
    (announced,) = [detail for kind, detail in world.published() if kind == CUSTOMER_FREE_TRIAL_CONFIRMED]
    assert (announced["license_arn"], announced["free_trial"]) == (trial["license_arn"], True)
    # and nothing more is asked
    reads = terms_reads(world)
    world.pass_time(3600)
    assert terms_reads(world) == reads
    assert world.failures == []


def test_a_claim_still_unconfirmed_after_a_day_is_counted_once_and_no_longer_asked(
    world: LifecycleWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a buyer claiming a free trial on an agreement the seller may not read (a channel partner's offer)
    trial = world.marketplace.admin.subscribe(PRODUCT, BUYER, free_trial=True, proposer_account_id="999988887777")
    world.deliver()
    world.register(trial["registration_token"], **CLAIMS_FREE_TRIAL)
    capsys.readouterr()
    # When Marketplace keeps refusing for a day
    world.pass_time(23 * 3600, step=900)
    # Then it was asked again and again, backing off, and nothing was counted before the day was out
    asked = terms_reads(world)
    assert asked > 20
    assert published(capsys, "FreeTrialClaimsUnconfirmed") == 0
    world.pass_time(2 * 3600, step=900)
    # Then, past the day, the claim is counted once as unconfirmed, and no longer asked about
    assert published(capsys, "FreeTrialClaimsUnconfirmed") == 1
    reads = terms_reads(world)
    world.pass_time(2 * 3600, step=900)
    assert terms_reads(world) == reads
    assert published(capsys, "FreeTrialClaimsUnconfirmed") == 0
    # and the buyer stays registered, their trial a claim
    customer = customer_of(world, trial)
    assert (customer.free_trial, customer.free_trial_claimed, customer.free_trial_known_at) == (False, True, None)
    assert world.failures == []
