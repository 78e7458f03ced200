"""Attack 74's rule at its edges: a legacy buyer back under their customer identifier whose subscribe-success is still
on its way when their next unsubscribe-pending is heard. Their new subscription started after their leave of the one
before and by this leave (``Customer.subscribed_after`` / ``subscribed_by``): usage stamped in their subscription
before (up to an hour after its leave: ``Customer.earlier_terms``) is theirs, billed late, and before their first is
not; usage between the two (less a producer's clock drift) cannot be told theirs until AWS says when they came back,
and usage after this leave is theirs. A licence buyer's own leave (its Ended and Deprovisioned) is unaffected.

The buyer: subscribed at 08:00, left at 09:00, ended at 10:00 (unsubscribe-success); back at 12:00, the
subscribe-success delivered late; leaving again at ``leave``, its unsubscribe-pending heard four minutes later."""

from __future__ import annotations

from datetime import datetime

import pytest

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.usage.ingest import UsageRejected
from functions.usage.model import MAX_INTEGER_QUANTITY
from tests.unit.review23_world import ACCOUNT, CARRIED, IDENTIFIER, LEGACY, World, hour, legacy_sns, legacy_usage

REF = CustomerRef(LEGACY.code, customer_identifier=IDENTIFIER)


def back_and_leaving_unheard(leave: datetime) -> World:
    """The buyer ended at 10:00, back at 12:00 unheard, their leave at ``leave`` heard four minutes after it."""
    world = World(product=LEGACY)
    now = world.clock.now()
    world.customers.upsert_registration(
        Customer(REF, ACCOUNT, SubscriptionState.PENDING, now, registered_at=now), "nonce-1"
    )
    legacy_sns(world, "subscription_subscribe-success.txt")  # 08:00
    world.at(hour(9))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    world.at(hour(10))
    legacy_sns(world, "subscription_unsubscribe-success.txt")
    world.at(leave.replace(second=0) + (hour(0, 4) - hour(0)))
    legacy_sns(world, "subscription_unsubscribe-pending.txt", at=leave)
    return world


def the_return_heard(world: World) -> None:
    legacy_sns(world, "subscription_subscribe-success.txt", at=hour(12))


def refusal(world: World, event_id: str, stamp: datetime) -> str:
    with pytest.raises(UsageRejected) as refused:
        world.record(legacy_usage(world, event_id, 7, stamp))
    [error] = refused.value.errors
    assert error.field == "events[0].timestamp"
    return error.message


def test_the_unheard_start_is_bounded_by_the_two_leaves() -> None:
    world = back_and_leaving_unheard(leave=hour(12, 6))
    customer = world.customers.get(REF)
    assert customer is not None
    assert (customer.state, customer.subscribed_at) == (SubscriptionState.ENDING, None)
    assert (customer.subscribed_after, customer.subscribed_by) == (hour(9), hour(12, 6))
    the_return_heard(world)
    customer = world.customers.get(REF)
    assert customer is not None
    assert (customer.subscribed_at, customer.subscribed_after, customer.subscribed_by) == (hour(12), None, None)


def test_usage_before_their_first_subscription_is_not_theirs() -> None:
    world = back_and_leaving_unheard(leave=hour(12, 6))
    message = refusal(world, "before-any", hour(7, 30))
    assert "before this buyer's subscription started (after 2026-11-26T09:00:00+00:00" in message
    assert message.endswith("it is not theirs")
    world.at(hour(15))
    assert world.billed_hours() == {}


def test_usage_stamped_in_the_subscription_before_is_theirs_and_billed_late() -> None:
    # their first subscription ran from 08:00 to an hour after its leave at 09:00 (simulator invariant 8)
    world = back_and_leaving_unheard(leave=hour(12, 6))
    taken = [world.record(legacy_usage(world, f"first-{m}", 3, hour(8 + m // 60, m % 60))).accepted for m in (30, 90)]
    assert taken == [("first-30",), ("first-90",)]
    world.at(hour(15))  # billed in the hour open when they came, their final hour
    assert world.billed_hours() == {hour(12): 6}


def test_usage_between_the_two_subscriptions_cannot_be_told_theirs_while_the_return_is_unheard() -> None:
    world = back_and_leaving_unheard(leave=hour(12, 6))
    for stamp in (hour(10, 30), hour(11, 59)):  # after the close at 10:00; before the leave, less five minutes
        message = refusal(world, f"gap-{stamp:%H%M}", stamp)
        assert "AWS Marketplace has not yet said when it started: it cannot be told theirs until it does" in message
    world.at(hour(15))
    assert world.billed_hours() == {}


def test_usage_from_the_leave_is_theirs_and_billed_in_their_final_hour() -> None:
    world = back_and_leaving_unheard(leave=hour(12, 6))
    world.at(hour(12, 11))
    after_the_leave = world.record(legacy_usage(world, "after-the-leave", 7, hour(12, 8)))
    # within a producer's drift of the leave
    slow_clock = world.record(legacy_usage(world, "slow-clock", 5, hour(12, 2)))
    assert (len(after_the_leave.accepted), len(slow_clock.accepted)) == (1, 1)
    world.at(hour(15))  # the final-usage step sends hour 12
    assert world.billed_hours() == {hour(12): 12}


def test_once_the_return_is_heard_the_same_usage_is_judged_by_its_start() -> None:
    world = back_and_leaving_unheard(leave=hour(12, 30))
    assert "cannot be told theirs until it does" in refusal(world, "in-the-gap", hour(11, 30))
    assert "cannot be told theirs until it does" in refusal(world, "back-already", hour(12, 10))
    world.at(hour(12, 40))
    the_return_heard(world)
    # sent again as they were: the gap's is not theirs, what they used after coming back at 12:00 is
    assert "before this buyer's subscription started (2026-11-26T12:00:00+00:00)" in refusal(
        world, "in-the-gap", hour(11, 30)
    )
    assert len(world.record(legacy_usage(world, "back-already", 7, hour(12, 10))).accepted) == 1
    world.at(hour(15))
    assert world.billed_hours() == {hour(12): 7}


def test_a_leaving_buyers_carry_is_not_placed_in_the_gap_while_the_return_is_unheard() -> None:
    world = back_and_leaving_unheard(leave=hour(12, 6))
    world.at(hour(12, 11))
    over = [legacy_usage(world, f"big-{n}", 2_000_000_000, hour(12, 8)) for n in (1, 2)]
    assert len(world.record(*over).accepted) == 2
    world.at(hour(15))  # the final-usage step: its hour 12 carries CARRIED units on
    # the hours of 10:00 and 11:00, sealed without a record of theirs, were not theirs: with no hour of theirs left
    # to take it, the carry is parked (CarriedPastEnd), not billed in the gap
    assert world.billed_hours() == {hour(12): MAX_INTEGER_QUANTITY}
    assert sum(r.quantity for (r, status) in world.ledger.records.values() if status == "failed") == CARRIED


def test_a_licence_buyer_leaving_keeps_their_start_and_their_final_hours_usage() -> None:
    world = World()
    world.subscribe()  # 08:00
    world.at(hour(9))
    world.send("license_deprovisioned.json")  # the final hour opens (AWS's 2026 order: the Ended after it)
    world.at(hour(9, 1))
    world.send("ended_proposer.json")
    world.at(hour(9, 10))
    assert world.units_taken("before-the-leave", 7, stamp=hour(8, 30)) == 7
    customer = world.customer()
    assert (customer.state, customer.subscribed_at, customer.subscribed_after) == (
        SubscriptionState.ENDING,
        hour(8),
        None,
    )
    world.at(hour(12))
    assert world.billed_hours() == {hour(9): 7}  # stamped in a sealed hour: billed in the open one
