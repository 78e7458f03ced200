"""Review 23b: ``_legacy_end`` ignores the first subscription's unsubscribe-success only while the buyer's latest
unsubscribe-pending is the first subscription's. A legacy buyer who subscribed again during their first final hour
(the case the fix covers) and later leaves again (unsubscribe-pending at 12:00, their final hour until about 13:00)
has ``legacy.ending`` = 12:00 > their re-activation, so the first subscription's success (11:00) counts as theirs: the
pending itself ends them, at once, backdated to 11:00. Their usage of the final hour AWS still bills is refused
(a 422 for a subscribed buyer), and usage they had between 11:00 and 12:00, accepted then, is outside the window the
lifecycle now records."""

from __future__ import annotations

from datetime import timedelta

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.usage.ingest import UsageRejected
from tests.unit.review23_world import IDENTIFIER, LEGACY, World, hour, legacy_sns, legacy_usage


def test_a_buyer_back_during_their_final_hour_who_leaves_again_keeps_their_second_final_hour() -> None:
    world = World(product=LEGACY)
    ref = CustomerRef(LEGACY.code, customer_identifier=IDENTIFIER)
    world.customers.put(Customer(ref, "845735284135", SubscriptionState.PENDING, world.clock.now()))
    legacy_sns(world, "subscription_subscribe-success.txt")  # 08:00
    world.at(hour(9))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")  # leaves
    world.at(hour(9, 30))
    legacy_sns(world, "subscription_subscribe-success.txt")  # back, same identifier
    world.at(hour(10))
    legacy_sns(world, "subscription_unsubscribe-success.txt")  # the first subscription's end
    world.at(hour(11, 10))
    assert world.record(legacy_usage(world, "second-sub", 7)).accepted == ("second-sub",)
    world.at(hour(12))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")  # the second subscription leaves: its final hour begins
    customer = world.customers.get(ref)
    assert customer is not None
    # Then the buyer is leaving (ending), their final hour from 12:00, not ended at 10:00 by the first's success
    assert (customer.state, customer.state_changed_at) == (SubscriptionState.ENDING, hour(12)), (
        customer.state,
        customer.state_changed_at,
    )
    world.at(hour(12, 10))
    try:
        world.record(legacy_usage(world, "final-hour", 3))
    except UsageRejected as refused:
        raise AssertionError(f"a subscribed buyer's usage in their final hour refused: {refused}") from None
    world.at(hour(16) + timedelta(minutes=10))
    # Then both subscriptions' usage is billed: 7 units in 11:00, 3 in 12:00
    assert world.billed_hours() == {hour(11): 7, hour(12): 3}, world.billed_hours()
