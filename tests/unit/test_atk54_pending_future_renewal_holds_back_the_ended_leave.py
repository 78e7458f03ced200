"""Attack 54 (on d0b61af, ``buyer_times``' ``live`` with ``_taken_from``; found by the property test
``test_atk54_lifecycle_delivery_orders``). The Purchase Agreement Ended of the agreement a buyer is on opens their
final hour only once every agreement still holding the licence (``live``) has an Ended (``all_ended``). A future-dated
renewal the buyer accepted and that has not started holds nothing (``_holds_licence_from``: never before its start),
yet it counts as live: nothing took the licence from it, and it has no Ended. So the Ended of the agreement they leave
opens nothing while a renewal waits, in the seller guide's order (Ended first, the License Deprovisioned closing the
hour about an hour later). The Deprovisioned, when it comes, is read as the *opening* of a new final hour instead of
its close.

The buyer is on agmt-1 since 10:00. At 10:30 they accept a renewal (intent RENEW, previousAgreementId agmt-1) starting
the next day (the buyer guide's future-dated agreements; attack 51's shape). At 11:30 agmt-1 is cancelled: its Ended at
11:30 opens the last hour of metering, its License Deprovisioned at 12:30 closes it. Correct: ENDING since 11:30
(cutoff 12:15, final usage sent within the hour), ENDED at 12:30. Read so: ACTIVE until 12:30 (no cutoff, no final
usage), then ENDING since 12:30 with a cutoff of 13:15: usage from 12:30 to 13:15 is answered 200 (a promise it will
be billed) and refused by Marketplace, and the final usage (the buyer's last hours, 11:00 and 12:00) is sent at 13:16,
after Marketplace stopped taking their records at 12:30: the final hour's usage is never billed. "Customer Ended" is
announced at 13:30, an hour after the buyer lost their licence. The same with the renewal cancelled along with agmt-1
(its Ended a minute after agmt-1's Deprovisioned, AWS's 2026 minutes apart): ENDED an hour late, the cutoff 45 minutes
after Marketplace closed the hour.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from functions.customers.model import Customer, SubscriptionState
from functions.lifecycle.notifications import parse_notification
from tests.aws_corpus import eventbridge_example
from tests.unit.test_lifecycle_rules import T0, Buyer, World, subscribed

RENEWAL = "agmt-futuredatedrenewal00000"
HOUR = timedelta(hours=1)


def _text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _with_a_renewal_starting_tomorrow() -> tuple[World, Buyer]:
    world, buyer = World(), Buyer()
    subscribed(world, buyer)  # agmt-1 at 10:00
    world.pass_time(30)
    accepted = world.clock.now()  # 10:30: a renewal accepted, starting tomorrow
    created = eventbridge_example("created_proposer_renew.json", buyer.parties.with_(renewal_agreement_id=RENEWAL))
    created["time"] = _text(accepted)
    created["detail"]["agreement"].update(acceptanceTime=_text(accepted), startTime=_text(T0 + 24 * HOUR))
    world.lifecycle.handle(parse_notification(json.dumps(created), message_id="m", sent_at=accepted))
    world.pass_time(60)
    return world, buyer


def _customer(world: World, buyer: Buyer) -> Customer:
    customer = world.customers.get(buyer.ref)
    assert customer is not None
    return customer


def test_the_ended_of_the_agreement_left_opens_the_final_hour_while_a_renewal_waits() -> None:
    world, buyer = _with_a_renewal_starting_tomorrow()
    left = world.clock.now()  # 11:30: agmt-1 cancelled, in the seller guide's order
    world.send(buyer, "ended_proposer.json")
    customer = _customer(world, buyer)
    assert (customer.state, customer.state_changed_at) == (SubscriptionState.ENDING, left), (
        f"{customer.state} since {customer.state_changed_at} after agmt-1's Ended at 11:30"
    )
    assert customer.final_usage_cutoff == left + timedelta(minutes=45)
    world.pass_time(60)
    world.send(buyer, "license_deprovisioned.json")  # 12:30: Marketplace closes the hour
    world.pass_time(3 * 60)
    customer = _customer(world, buyer)
    assert (customer.state, customer.state_changed_at) == (SubscriptionState.ENDED, left + HOUR)


def test_a_renewal_cancelled_with_the_agreement_left_does_not_move_the_final_hour() -> None:
    world, buyer = _with_a_renewal_starting_tomorrow()
    left = world.clock.now()  # 11:30: agmt-1 cancelled, the renewal with it
    world.send(buyer, "ended_proposer.json")
    world.pass_time(1)
    world.send(buyer, "license_deprovisioned.json")  # 11:31: Marketplace closes the hour
    world.send(buyer, "ended_proposer.json", agreement_id=RENEWAL)
    world.pass_time(3 * 60)
    customer = _customer(world, buyer)
    assert (customer.state, customer.state_changed_at) == (SubscriptionState.ENDED, left + timedelta(minutes=1)), (
        f"{customer.state} since {customer.state_changed_at}: Marketplace closed the hour at 11:31"
    )
