"""Cleaning up a test agreement at go-live, through the real lifecycle handler and the operator CLI against DynamoDB
Local and the emulator: a dry run sends nothing (the emulator's call log is empty), ``--send`` asks once however often
it is retried (after a lost answer too), the request's events are kept and shown by ``cli customers``, and the buyer's
approval ends them through the final-usage path: their usage until then is billed."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.customers.model import CustomerRef, SubscriptionState
from local.marketplace.testing import EmulatorHandle
from operations.cli import main
from operations.target import local_target
from tests.integration.lifecycle_world import LifecycleWorld, lifecycle_world

PRODUCT = "cancelproduct1"
BUYER = "845735284135"
SEND = "SendAgreementCancellationRequest"


@pytest.fixture
def world(
    marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Any], tmp_path: Path
) -> Iterator[LifecycleWorld]:
    marketplace.admin.create_product(PRODUCT, ["api_calls"], fulfillment_url="http://127.0.0.1:9/register")
    products = [{"code": PRODUCT, "name": "Cancel product", "dimensions": [{"name": "api_calls"}]}]
    with lifecycle_world(marketplace, dynamodb, handler_environment, tmp_path, products) as lifecycle:
        yield lifecycle


def cli(world: LifecycleWorld, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    target = local_target(world.settings, credentials={}, clock=world.clock)
    status = main(list(argv), out=out, err=err, target=lambda _: target)
    return status, out.getvalue(), err.getvalue()


def active_buyer(world: LifecycleWorld) -> tuple[dict[str, Any], CustomerRef]:
    subscription = world.marketplace.admin.subscribe(PRODUCT, BUYER)
    world.register(subscription["registration_token"])
    world.deliver()  # Created, License Updated
    ref = CustomerRef(PRODUCT, license_arn=subscription["license_arn"])
    assert world.customer(ref).state is SubscriptionState.ACTIVE
    return subscription, ref


def requests_made(world: LifecycleWorld) -> list[dict[str, Any]]:
    return list(world.marketplace.admin.state()["cancellation_requests"].values())


def test_a_dry_run_sends_nothing(world: LifecycleWorld) -> None:
    subscription, ref = active_buyer(world)
    status, out, err = cli(world, "cancel-agreement", subscription["agreement_id"], "--reason", "TEST_AGREEMENT")
    assert (status, err) == (0, "")
    assert "dry run: nothing sent" in out
    assert ref.key in out  # whose agreement it is
    assert world.marketplace.admin.calls(operation=SEND) == []
    assert requests_made(world) == []


def test_an_approved_cancellation_ends_the_buyer_and_bills_their_usage_until_then(world: LifecycleWorld) -> None:
    # Given an active buyer with usage
    subscription, ref = active_buyer(world)
    assert world.use(world.customer(ref), 7, "before-cancel").accepted == ("before-cancel",)
    # When the operator asks for the cancellation, twice (a retry): one request
    argv = ("cancel-agreement", subscription["agreement_id"], "--reason", "TEST_AGREEMENT", "--send", "--json")
    first, again = cli(world, *argv), cli(world, *argv)
    assert (first[0], again[0]) == (0, 0), (first, again)
    assert json.loads(first[1])["request_id"] == json.loads(again[1])["request_id"]
    assert len(world.marketplace.admin.calls(operation=SEND)) == 2
    assert [r["status"] for r in requests_made(world)] == ["PENDING_APPROVAL"]
    delivered = world.deliver()
    assert [e["detail-type"] for e in delivered] == ["Agreement Cancellation Request Pending Approval - Proposer"]
    assert world.failures == []
    # Then cli customers shows it, and the buyer is still active (they have 7 days to answer)
    status, out, _ = cli(world, "customers", "--json")
    (row,) = json.loads(out)
    assert row["state"] == "active"
    assert row["notices"] == ["cancellation PENDING_APPROVAL (TEST_AGREEMENT)"]
    # When the buyer approves
    world.marketplace.admin.approve_cancellation(subscription["agreement_id"])
    world.deliver()
    # Then they leave through the final-usage path: their usage is billed, then they are ended
    assert world.customer(ref).state in (SubscriptionState.ENDING, SubscriptionState.ENDED)
    world.pass_time(3600)
    assert world.customer(ref).state is SubscriptionState.ENDED
    assert world.billed(subscription["license_arn"]) == 7
    assert world.failures == []
    status, out, _ = cli(world, "customers")
    assert status == 0
    assert "cancellation APPROVED (TEST_AGREEMENT)" in out


def test_a_request_whose_answer_was_lost_is_sent_once(world: LifecycleWorld) -> None:
    subscription, _ = active_buyer(world)
    world.marketplace.admin.queue_errors({"operation": SEND, "code": "LostResponse", "count": 1})
    argv = ("cancel-agreement", subscription["agreement_id"], "--reason", "TEST_AGREEMENT", "--send", "--json")
    status, out, err = cli(world, *argv)
    # botocore's retry after the lost answer carries the same client token: the same request, answered again
    assert status == 0, err
    assert json.loads(out)["status"] == "PENDING_APPROVAL"
    assert len(world.marketplace.admin.calls(operation=SEND)) == 2
    assert len(requests_made(world)) == 1
    assert len(world.deliver()) == 1  # one Pending Approval event


def test_a_refused_request_says_why_and_exits_1(world: LifecycleWorld) -> None:
    status, out, _ = cli(world, "cancel-agreement", "agmt-nosuchagreement", "--reason", "TEST_AGREEMENT", "--send")
    assert status == 1
    assert "refused: ResourceNotFoundException" in out
    status, _, err = cli(world, "cancel-agreement", "agmt-x", "--reason", "BECAUSE")
    assert status == 2
    assert "--reason" in err
    status, _, err = cli(world, "cancel-agreement", "not an id!", "--reason", "OTHER")
    assert status == 2
    assert "agreement" in err
