"""Attack 51 (on 1a200c4, ``_closes_a_left_agreement``'s named branch). A License Deprovisioned naming an agreement is
read as that agreement's close, not a leave, as soon as *any* agreement of the buyer has an activation later than the
named one's; an agreement's activation is its Purchase Agreement Created, sent when the buyer *accepts* it. A
future-dated agreement (FDA) is accepted, and created, long before it starts: the buyer guide's "Future dated
agreements" activates the licence on the start date, and the Created carries that ``startTime`` (kept as
``agreement_start``, which ``buyer_times`` never reads).

A buyer on agmt-1 (since 2026-11-26) accepts, on Dec 1, a renewal (intent RENEW, previousAgreementId agmt-1) starting
on Jan 25. On Dec 6 agmt-1 is over (cancelled: its License Deprovisioned naming agmt-1, then its Ended): Marketplace
takes the licence away; nothing holds it until Jan 25. Before 1a200c4 the Deprovisioned was the buyer's leave (no
agreement taken between an Ended and it): ENDING, then ENDED an hour later. Now, since the renewal's Created (Dec 1)
is later than agmt-1's, it is "the close of an agreement the buyer took another after": no leave, and the renewal's
missing Ended keeps agmt-1's Ended from ending them. The buyer reads ACTIVE for the 50 days no agreement holds their
licence: no final hour, no final usage, no end announced, and every record of usage taken and sent to Marketplace for
a buyer it no longer entitles (refused: the seller's systems are told to serve a buyer who pays nothing; invariant 2,
a left buyer never ACTIVE for ever). A regression of 1a200c4: this test passes on 267f1c7."""

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


def test_a_deprovisioned_buyer_whose_renewal_starts_later_leaves() -> None:
    world, buyer = World(), Buyer()
    subscribed(world, buyer)  # agmt-1, 2026-11-26 10:00
    accepted, starts = T0 + timedelta(days=5), T0 + timedelta(days=60)
    world.clock.set(accepted)
    created = eventbridge_example("created_proposer_renew.json", buyer.parties.with_(renewal_agreement_id=RENEWAL))
    created["time"] = _text(accepted)
    created["detail"]["agreement"].update(acceptanceTime=_text(accepted), startTime=_text(starts))
    world.lifecycle.handle(parse_notification(json.dumps(created), message_id="m", sent_at=accepted))
    assert world.state(buyer) is SubscriptionState.ACTIVE  # still on agmt-1; the renewal starts on Jan 25
    world.clock.set(T0 + timedelta(days=10))
    left = world.clock.now()
    world.send(buyer, "license_deprovisioned.json")  # Dec 6: agmt-1's licence taken away
    customer = world.customers.get(buyer.ref)
    assert customer is not None
    assert (customer.state, customer.state_changed_at) == (SubscriptionState.ENDING, left), (
        f"read {customer.state} since {customer.state_changed_at} with no agreement holding the licence"
    )
    world.pass_time(5)
    world.send(buyer, "ended_proposer.json")  # agmt-1's Ended
    world.pass_time(3 * 60)
    assert world.state(buyer) is SubscriptionState.ENDED  # nothing holds their licence until Jan 25
