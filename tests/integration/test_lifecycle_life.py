"""Buyers' whole lives through the real handlers, with AWS's published event shapes (tests/fixtures/aws, ids, accounts
and times substituted) in real SQS records, DynamoDB Local, the lifecycle queue's timer on a moved clock, and the
emulator's ledger as the proof of what was billed: every accepted unit is billed before the end, later usage is
refused, and nobody stays ``ending``, in either order AWS's sources give for Ended and Deprovisioned."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.customers.model import CustomerRef, SubscriptionState
from functions.customers.subjects import licence_id
from functions.lifecycle.service import CUSTOMER_ACTIVATED, CUSTOMER_ENDED
from functions.usage.ingest import UsageRejected
from local.marketplace.testing import EmulatorHandle
from tests.aws_corpus import Parties, eventbridge_example, sns_envelope, sns_message, sns_topic
from tests.integration.lifecycle_world import LifecycleWorld, lifecycle_world

PRODUCT = "lifelicence1"
LEGACY = "lifelegacy1"
BUYER = "111122223333"
MINUTE = 60


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


class Buyer:
    """One subscription in the emulator, whose notifications the test sends in AWS's published shapes."""

    def __init__(self, world: LifecycleWorld, product: str = PRODUCT, **subscribe: Any) -> None:
        self.world = world
        self.subscription = world.marketplace.admin.subscribe(product, BUYER, **subscribe)
        world.seen = world.marketplace.admin.notifications()[-1]["seq"]  # the emulator's own: not delivered
        self.parties = Parties(
            buyer_account=BUYER,
            agreement_id=self.subscription["agreement_id"],
            licence_id=str(licence_id(self.subscription["license_arn"])),
            product_code=product,
        )
        self.ref = (
            CustomerRef(product, customer_identifier=self.subscription["customer_identifier"])
            if product == LEGACY
            else CustomerRef(product, license_arn=self.subscription["license_arn"])
        )

    def register(self) -> None:
        self.world.register(self.subscription["registration_token"])

    def send(self, example: str, **names: str) -> None:
        """AWS's published example, about this buyer, now."""
        event = eventbridge_example(example, self.parties.with_(**names), at=self.world.clock.now())
        self.world.handle([event])
        self.world.run_timers()

    def state(self) -> SubscriptionState:
        return self.world.customer(self.ref).state

    def use(self, quantity: int, event_id: str) -> None:
        assert self.world.use(self.world.customer(self.ref), quantity, event_id).accepted == (event_id,)

    def refused(self, event_id: str) -> str:
        with pytest.raises(UsageRejected) as refusal:
            self.world.use(self.world.customer(self.ref), 1, event_id)
        error = refusal.value.errors[0]
        assert error.field == "events[0].license_arn"
        return error.message

    @property
    def billed(self) -> int:
        return self.world.billed(self.subscription["license_arn"])


def subscribed(world: LifecycleWorld) -> Buyer:
    buyer = Buyer(world)
    buyer.register()
    buyer.send("created_proposer_new.json")
    buyer.send("license_updated.json")
    assert buyer.state() is SubscriptionState.ACTIVE
    return buyer


@pytest.mark.parametrize(
    "order",
    [
        ("ended_proposer.json", "license_deprovisioned.json"),  # the seller guide: Ended opens, Deprovisioned closes
        ("license_deprovisioned.json", "ended_proposer.json"),  # AWS's 2026 guidance: Deprovisioned opens
    ],
    ids=["ended-first", "deprovisioned-first"],
)
def test_a_leaving_buyers_every_accepted_unit_is_billed_before_the_end(
    world: LifecycleWorld, order: tuple[str, str]
) -> None:
    buyer = subscribed(world)
    buyer.use(7, "u-1")
    # When the first end event arrives
    first, second = order
    buyer.send(first)
    # Then the buyer is leaving, and their usage is still taken, for most of the final hour
    assert buyer.state() is SubscriptionState.ENDING
    world.pass_time(10 * MINUTE)
    buyer.use(5, "u-2")
    world.pass_time(34 * MINUTE)
    buyer.use(3, "u-3")  # 44 minutes into the final hour
    assert buyer.billed == 0
    # When the cutoff has passed: usage is refused, naming why, and everything accepted is billed at once
    world.pass_time(2 * MINUTE)
    assert "final usage was taken until" in buyer.refused("u-4")
    assert buyer.billed == 15
    if first == "license_deprovisioned.json":
        buyer.send(second)  # the agreement's end too, some minutes later: it closes nothing
        assert buyer.state() is SubscriptionState.ENDING
        # Then, once the final hour has passed, the buyer is ended by time alone (EventBridge sends no more)
        world.pass_time(15 * MINUTE)
    else:
        # Then the licence's deprovisioning closes the final hour
        world.pass_time(14 * MINUTE)
        buyer.send(second)
    assert buyer.state() is SubscriptionState.ENDED
    assert "subscription ended" in buyer.refused("u-5")
    assert [d for d, _ in world.published()] == [CUSTOMER_ACTIVATED, CUSTOMER_ENDED]
    assert world.published()[-1][1]["state"] == "ended"
    # and nothing was billed twice, nothing after the end
    world.pass_time(2 * 60 * MINUTE)
    assert buyer.billed == 15
    assert world.failures == []


def test_a_deprovisioning_after_the_ended_sends_the_final_usage_at_once(world: LifecycleWorld) -> None:
    buyer = subscribed(world)
    buyer.send("ended_proposer.json")
    buyer.use(4, "u-1")
    world.pass_time(20 * MINUTE)
    # When Marketplace closes the final hour early (its Deprovisioned before our cutoff)
    buyer.send("license_deprovisioned.json")
    # Then the buyer is ended, their usage refused, and what was accepted is billed right away
    assert buyer.state() is SubscriptionState.ENDED
    assert buyer.billed == 4
    assert "subscription ended" in buyer.refused("u-2")


def test_a_deprovisioning_is_read_by_the_agreement_it_names(world: LifecycleWorld) -> None:
    """A buyer leaves, comes back on the same licence under a new agreement within the hour, and leaves that one too
    in AWS's 2026 order (Deprovisioned first). Each License Deprovisioned names its agreement (``agreement.id``): the
    first closes the agreement they left, the second is their leave. Told by times alone, the second, within two hours
    of the first agreement's Ended with an agreement taken between, read as the old one's close: active until the new
    agreement's Ended came."""
    buyer = subscribed(world)
    first, second = buyer.parties.agreement_id, "agmt-back" + buyer.parties.agreement_id[-16:]
    buyer.send("ended_proposer.json")  # the seller guide's order: the Ended opens their final hour
    assert buyer.state() is SubscriptionState.ENDING
    world.pass_time(20 * MINUTE)
    buyer.send("created_proposer_new.json", agreement_id=second)  # back, under a new agreement on the licence
    buyer.send("license_updated.json", agreement_id=second)
    assert buyer.state() is SubscriptionState.ACTIVE
    world.pass_time(20 * MINUTE)
    buyer.send("license_deprovisioned.json", agreement_id=first)  # the first agreement's close
    assert buyer.state() is SubscriptionState.ACTIVE
    buyer.use(5, "u-1")
    world.pass_time(10 * MINUTE)
    buyer.send("license_deprovisioned.json", agreement_id=second)  # their leave of the new one, its Ended to come
    assert buyer.state() is SubscriptionState.ENDING
    world.pass_time(5 * MINUTE)
    buyer.send("ended_proposer.json", agreement_id=second)
    world.pass_time(2 * 60 * MINUTE)
    assert buyer.state() is SubscriptionState.ENDED
    assert buyer.billed == 5
    assert world.failures == []


def test_an_agreement_that_ends_with_no_licence_event_ends_the_buyer_after_the_final_hour(
    world: LifecycleWorld,
) -> None:
    buyer = Buyer(world)
    buyer.register()
    buyer.send("created_proposer_new.json")
    buyer.use(2, "u-1")
    buyer.send("ended_manufacturer.json")
    world.pass_time(61 * MINUTE)
    assert buyer.state() is SubscriptionState.ENDED
    assert buyer.billed == 2
    assert [d for d, _ in world.published()][-1] == CUSTOMER_ENDED


@pytest.mark.parametrize("renewal_first", [True, False], ids=["renewal-then-end", "end-then-renewal"])
def test_a_renewal_keeps_the_buyer_billed_whatever_order_its_events_come_in(
    world: LifecycleWorld, renewal_first: bool
) -> None:
    buyer = subscribed(world)
    buyer.use(6, "u-1")
    renewal = "agmt-renewal" + buyer.parties.agreement_id[-13:]
    events = [
        ("created_proposer_renew.json", {"renewal_agreement_id": renewal}),  # names the replaced agreement
        ("ended_proposer.json", {}),  # the replaced agreement's end
    ]
    for example, names in events if renewal_first else reversed(events):
        buyer.send(example, **names)
    # Then the buyer stays subscribed (after the end arrived first: once the renewal linked it)
    assert buyer.state() is SubscriptionState.ACTIVE
    world.pass_time(2 * 60 * MINUTE)
    assert buyer.state() is SubscriptionState.ACTIVE
    buyer.use(1, "u-2")
    # and only the renewed agreement's end ends them
    buyer.send("ended_proposer.json", agreement_id=renewal)
    assert buyer.state() is SubscriptionState.ENDING
    assert world.failures == []


def test_a_renewal_announced_only_by_license_updated_keeps_the_buyer_subscribed(world: LifecycleWorld) -> None:
    buyer = subscribed(world)
    buyer.send("ended_proposer.json")
    assert buyer.state() is SubscriptionState.ENDING
    # When the licence is updated to a new agreement (the renewal's Created not seen)
    buyer.send("license_updated.json", agreement_id="agmt-renewedbylicence000000")
    # Then it is live again, and the final hour's timer ends nobody
    assert buyer.state() is SubscriptionState.ACTIVE
    world.pass_time(2 * 60 * MINUTE)
    assert buyer.state() is SubscriptionState.ACTIVE
    assert CUSTOMER_ENDED not in [d for d, _ in world.published()]


@pytest.mark.parametrize("ending_first", ["first", "second"])
def test_two_licences_of_one_account_are_two_customers(world: LifecycleWorld, ending_first: str) -> None:
    # Given one account holding two concurrent agreements for the product, each with its licence
    buyers = {"first": subscribed(world), "second": Buyer(world, concurrent=True)}
    buyers["second"].register()
    buyers["second"].send("created_proposer_new.json")
    buyers["second"].send("license_updated.json")
    leaving, staying = buyers[ending_first], buyers["second" if ending_first == "first" else "first"]
    # When one agreement ends and, a while later, its licence is deprovisioned
    leaving.send("ended_proposer.json")
    world.pass_time(5 * MINUTE)
    leaving.send("license_deprovisioned.json")
    # Then only that customer leaves
    assert leaving.state() is SubscriptionState.ENDED
    assert staying.state() is SubscriptionState.ACTIVE
    staying.use(3, "u-1")
    world.pass_time(2 * 60 * MINUTE)
    assert staying.state() is SubscriptionState.ACTIVE


def test_agreement_events_before_registration_apply_once_the_buyer_registers(world: LifecycleWorld) -> None:
    buyer = Buyer(world)
    buyer.send("created_proposer_new.json")
    buyer.send("license_updated.json")
    assert world.customers.get(buyer.ref) is None
    buyer.register()
    assert buyer.state() is SubscriptionState.ACTIVE
    # an agreement unknown to anyone yet is kept too, and applies once a licence event links it
    renewal = "agmt-linkedlater000000000000"
    buyer.send("ended_proposer.json")
    buyer.send("created_proposer_new.json", agreement_id=renewal)
    assert buyer.state() is SubscriptionState.ENDING
    buyer.send("license_updated.json", agreement_id=renewal)
    assert buyer.state() is SubscriptionState.ACTIVE


def test_an_unknown_detail_type_is_acknowledged_not_dead_lettered(world: LifecycleWorld) -> None:
    buyer = subscribed(world)
    event = eventbridge_example("ended_proposer.json", buyer.parties)
    world.handle([{**event, "detail-type": "Purchase Agreement Paused - Proposer"}])
    assert world.failures == []
    assert buyer.state() is SubscriptionState.ACTIVE


def test_a_legacy_buyer_leaves_through_sns_with_the_final_usage_billed(world: LifecycleWorld) -> None:
    buyer = Buyer(world, LEGACY)
    buyer.register()
    identifier = buyer.subscription["customer_identifier"]

    def notify(example: str) -> None:
        message = sns_message(example, customer_identifier=identifier, product_code=LEGACY)
        world.handle([sns_envelope(message, sns_topic(example, LEGACY), at=world.clock.now())])
        world.run_timers()

    notify("subscription_subscribe-success.txt")
    assert buyer.state() is SubscriptionState.ACTIVE
    customer = world.customer(buyer.ref)
    assert world.use(customer, 4, "legacy-1").accepted == ("legacy-1",)
    notify("subscription_unsubscribe-pending.txt")
    assert buyer.state() is SubscriptionState.ENDING
    world.pass_time(46 * MINUTE)
    assert world.billed(identifier) == 4
    notify("subscription_unsubscribe-success.txt")
    assert buyer.state() is SubscriptionState.ENDED
    assert [d for d, _ in world.published()] == [CUSTOMER_ACTIVATED, CUSTOMER_ENDED]


@pytest.mark.parametrize("licence_format", ["documented", "arn"])
@pytest.mark.parametrize("end_order", ["ended_first", "deprovisioned_first"])
def test_the_emulators_own_events_carry_a_buyer_from_subscription_to_the_end(
    world: LifecycleWorld, end_order: str, licence_format: str
) -> None:
    admin = world.marketplace.admin
    admin.put_config(end_order=end_order, eventbridge_license_arn_format=licence_format)
    # Given a buyer who subscribes (the emulator's Created and License Updated) and registers
    subscription = admin.subscribe(PRODUCT, BUYER)
    world.deliver()
    world.register(subscription["registration_token"])
    ref = CustomerRef(PRODUCT, license_arn=subscription["license_arn"])
    assert world.customer(ref).state is SubscriptionState.ACTIVE
    assert world.use(world.customer(ref), 9, "u-1").accepted == ("u-1",)
    # When their agreement is renewed, Then they stay subscribed through the replaced agreement's end
    renewed = admin.renew(subscription["agreement_id"])
    world.deliver()
    assert world.customer(ref).state is SubscriptionState.ACTIVE
    # When they unsubscribe, and the emulator's grace (the final hour) runs out
    admin.unsubscribe(renewed["agreement_id"])
    world.deliver()
    assert world.customer(ref).state is SubscriptionState.ENDING
    assert world.use(world.customer(ref), 3, "u-2").accepted == ("u-2",)
    world.pass_time(65 * MINUTE)
    # Then everything accepted was billed before the end, and they are ended
    assert world.customer(ref).state is SubscriptionState.ENDED
    assert world.billed(subscription["license_arn"]) == 12
    assert [d for d, _ in world.published()] == [CUSTOMER_ENDED]  # activation announced at registration
    assert world.failures == []
