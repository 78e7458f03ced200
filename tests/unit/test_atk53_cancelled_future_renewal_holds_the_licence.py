"""Attack 53 (on da6dfb7, ``_holds_licence_from`` / ``_taken_from`` / ``live``). A future-dated agreement "takes the
licence" at its start (``max(activation, starts_at)``) even when it was ended *before* that start: a buyer who cancels
the future-dated renewal they had accepted keeps, in ``buyer_times``' reading, a renewal that took their licence from
the agreement they are actually on. Every later leave of that agreement is then misread.

The buyer is on agmt-1 since 10:00. At 10:30 they accept a future-dated renewal (intent RENEW, previousAgreementId
agmt-1) starting at 14:00, and cancel it at 12:00 (its Purchase Agreement Ended): agmt-1 goes on, the renewal never
starts. They leave agmt-1 at 20:00 in AWS's 2026 order (License Deprovisioned naming agmt-1, then its Ended at 20:05).
Correct: ENDING since 20:00 (cutoff 20:45), ENDED at 21:00. Read so: agmt-1 is "taken from" by the cancelled
renewal's 14:00 start, so its Deprovisioned is "the close of a left agreement" (the buyer stays ACTIVE: metered after
Marketplace took the licence away), and once its Ended comes the live agreements are the cancelled renewal alone,
whose 12:00 Ended opens the final hour eight hours before the leave: ENDED at once, dated 13:00, the final usage cut
off at 20:05 instead of 20:45 (usage of the real final hour never billed) and "Customer Ended" announced as of 13:00
while the buyer was entitled until 20:00 (invariants 2 and 3: the hour opens at the actual leave). Passes on 267f1c7
(ENDING at 20:00, ENDED at 21:00): a regression of the future-dated start (d8d259a/da6dfb7)."""

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


def test_a_cancelled_future_dated_renewal_never_takes_the_licence() -> None:
    world, buyer = World(), Buyer()
    subscribed(world, buyer)  # agmt-1 at 10:00
    world.pass_time(30)
    accepted = world.clock.now()  # 10:30: a renewal accepted, starting at 14:00
    created = eventbridge_example("created_proposer_renew.json", buyer.parties.with_(renewal_agreement_id=RENEWAL))
    created["time"] = _text(accepted)
    starts = T0 + timedelta(hours=4)
    created["detail"]["agreement"].update(acceptanceTime=_text(accepted), startTime=_text(starts))
    world.lifecycle.handle(parse_notification(json.dumps(created), message_id="m", sent_at=accepted))
    world.pass_time(90)
    world.send(buyer, "ended_proposer.json", agreement_id=RENEWAL)  # 12:00: the renewal cancelled before its start
    assert world.state(buyer) is SubscriptionState.ACTIVE  # still on agmt-1
    world.pass_time(8 * 60)
    left = world.clock.now()  # 20:00: their leave of agmt-1, Deprovisioned first
    world.send(buyer, "license_deprovisioned.json")
    customer = world.customers.get(buyer.ref)
    assert customer is not None
    assert (customer.state, customer.state_changed_at) == (SubscriptionState.ENDING, left), (
        f"{customer.state} since {customer.state_changed_at} after agmt-1's License Deprovisioned at 20:00"
    )
    world.pass_time(5)
    world.send(buyer, "ended_proposer.json")  # 20:05 agmt-1's Ended
    customer = world.customers.get(buyer.ref)
    assert customer is not None
    assert customer.final_usage_cutoff == left + timedelta(minutes=45)
    world.pass_time(3 * 60)
    customer = world.customers.get(buyer.ref)
    assert customer is not None
    assert (customer.state, customer.state_changed_at) == (SubscriptionState.ENDED, left + timedelta(hours=1))
