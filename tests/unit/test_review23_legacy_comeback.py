"""Review of issue 23: a legacy buyer who subscribes again under their customer identifier while their first
subscription's final hour runs (as the simulator's Marketplace lets them: sim/plan.py, a re-subscription 5 to 90
minutes after leaving) is ended by the first subscription's unsubscribe-success, which AWS sends an hour after the
unsubscribe: their usage is refused from then on, for ever, though Marketplace bills them."""

from __future__ import annotations

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.usage.ingest import UsageRejected
from tests.unit.review23_world import IDENTIFIER, LEGACY, World, hour, legacy_sns


def test_a_legacy_buyer_subscribed_again_is_not_ended_by_their_first_subscriptions_unsubscribe_success() -> None:
    world = World(product=LEGACY)
    ref = CustomerRef(LEGACY.code, customer_identifier=IDENTIFIER)
    world.customers.put(Customer(ref, "845735284135", SubscriptionState.PENDING, world.clock.now()))
    legacy_sns(world, "subscription_subscribe-success.txt")  # 08:00
    world.at(hour(9))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")  # leaves: about an hour left
    world.at(hour(9, 30))
    legacy_sns(world, "subscription_subscribe-success.txt")  # and subscribes again, under the same identifier
    customer = world.customers.get(ref)
    assert customer is not None
    assert customer.state is SubscriptionState.ACTIVE
    world.at(hour(10))
    legacy_sns(world, "subscription_unsubscribe-success.txt")  # the first subscription's end, an hour after leaving
    # Then the buyer, subscribed since 09:30, is still metered
    customer = world.customers.get(ref)
    assert customer is not None
    assert customer.state is SubscriptionState.ACTIVE, f"a subscribed buyer is {customer.state}"
    world.at(hour(10, 10))
    event = {
        "event_id": "after-comeback",
        "product_code": LEGACY.code,
        "customer_identifier": IDENTIFIER,
        "dimension": "calls",
        "quantity": 5,
        "timestamp": world.clock.now().isoformat(),
    }
    try:
        world.record(event)
    except UsageRejected as refused:
        raise AssertionError(f"a subscribed buyer's usage refused: {refused}") from None
