"""Attack 52 (on d8d259a, ``_closes_a_left_agreement``'s named branch with ``_holds_licence_from``). A License
Deprovisioned naming agreement A is read as A's close (not the buyer's leave) iff some held time ``at`` of *any*
linked agreement satisfies ``max(A.activations) < at <= deprovisioned``. d8d259a moves a future-dated agreement's held
time to its ``startTime`` (``max(activation, starts_at)``), but A itself is among the agreements asked: for a
future-dated A, its own start is later than its own latest activation (its Created, sent when accepted), so *every*
Deprovisioned naming A after A started reads as "the close of an agreement the buyer took another after": A took the
licence after A. The buyer's real leave of their newest (only live) agreement is never read from a Deprovisioned.

Scenario (the shape of attack 51's first test, one step further): a buyer on agmt-1 (Nov 26) accepts on Dec 1 a
renewal (intent RENEW) starting on Jan 25; agmt-1's Ended on Jan 25 ends nobody (the renewal lives). On Feb 4 the
buyer leaves the renewal: its License Deprovisioned, naming the renewal, comes first (AWS's 2026 order; invariant 2's
"Deprovisioned only"). It reads as the renewal's close: the buyer stays ACTIVE, no final hour opens, no cutoff, no
final usage, no Customer Ended, and every usage record of a buyer Marketplace no longer entitles is taken and sent
(refused by Marketplace: the seller's systems told to serve a buyer who pays nothing) until the renewal's Ended comes,
if it does; and when it does, their final hour opens then, not at their leave (invariant 3). On 267f1c7 (which read
no start) the Deprovisioned was their leave: this passes there.

The second test is the same self-reference without any renewal: an agreement whose Created (its only activation, and
a License Updated sent with it) is stamped one second before its ``startTime`` (AWS's own example has the Created's
``time`` equal to ``startTime``; any clock skew the other way suffices)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from functions.customers.model import SubscriptionState
from functions.lifecycle.notifications import parse_notification
from tests.aws_corpus import eventbridge_example
from tests.unit.test_lifecycle_rules import T0, Buyer, World, subscribed

RENEWAL = "agmt-futuredatedrenewal00000"


def _text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _created(world: World, buyer: Buyer, example: str, at: datetime, starts: datetime, **names: str) -> None:
    event = eventbridge_example(example, buyer.parties.with_(**names))
    event["time"] = _text(at)
    event["detail"]["agreement"].update(acceptanceTime=_text(at), startTime=_text(starts))
    world.lifecycle.handle(parse_notification(json.dumps(event), message_id="m", sent_at=at))


def test_a_buyer_leaving_their_started_future_dated_renewal_leaves() -> None:
    world, buyer = World(), Buyer()
    subscribed(world, buyer)  # agmt-1, 2026-11-26 10:00
    accepted, starts = T0 + timedelta(days=5), T0 + timedelta(days=60)
    world.clock.set(accepted)
    _created(world, buyer, "created_proposer_renew.json", accepted, starts, renewal_agreement_id=RENEWAL)
    world.clock.set(starts)
    world.send(buyer, "ended_proposer.json")  # agmt-1 over as the renewal starts: replaced, ends nobody
    world.pass_time(180)
    assert world.state(buyer) is SubscriptionState.ACTIVE
    world.clock.set(starts + timedelta(days=10))
    left = world.clock.now()
    world.send(buyer, "license_deprovisioned.json", agreement_id=RENEWAL)  # their leave of the renewal, first
    customer = world.customers.get(buyer.ref)
    assert customer is not None
    assert (customer.state, customer.state_changed_at) == (SubscriptionState.ENDING, left), (
        f"read {customer.state} after the Deprovisioned of their only live agreement"
    )
    world.pass_time(3 * 60)
    assert world.state(buyer) is SubscriptionState.ENDED


def test_an_agreement_created_a_second_before_its_start_is_left_by_its_deprovisioned() -> None:
    world, buyer = World(), Buyer()
    world.register(buyer)
    _created(world, buyer, "created_proposer_new.json", T0, T0 + timedelta(seconds=1))
    world.send(buyer, "license_updated.json")
    assert world.state(buyer) is SubscriptionState.ACTIVE
    world.pass_time(24 * 60)
    left = world.clock.now()
    world.send(buyer, "license_deprovisioned.json")  # their leave of their one agreement
    customer = world.customers.get(buyer.ref)
    assert customer is not None
    assert (customer.state, customer.state_changed_at) == (SubscriptionState.ENDING, left), (
        f"read {customer.state} after the Deprovisioned of their only agreement"
    )
    world.pass_time(3 * 60)
    assert world.state(buyer) is SubscriptionState.ENDED
