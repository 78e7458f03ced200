"""Attack 52 (on d8d259a, change 4 and ``_legacy_end``). d8d259a stops the final-usage step's end stamp of a left
agreement's final hour from ending a buyer back on their licence within that hour (simulator seed 248, test
``test_the_end_stamped_for_a_left_agreement_does_not_end_the_buyer_back_on_their_licence``), but only where the stamp
lands on the licence. The step records it on ``primary_subject``: for a buyer of a ``customer_mode: legacy`` product
(identified by a CustomerIdentifier, their licence kept as ``legacy_license_arn``), the *identifier's* subject. There
``_legacy_end`` reads every end with no unsubscribe-pending within two hours before it as "a success whose pending was
lost" (``_own_ends``) and ends the subscription it falls in: the stamp, after the buyer's return, ends them.

A product listed with customer identifiers but notified through EventBridge only (``legacy_sns`` false: no SNS
pending ever comes), its buyer (agmt-1, 10:00) leaves at 10:00 by agmt-1's Ended (the seller guide's order), comes
back on the same licence 58 minutes later under agmt-2, and the return's License Updated and Created are heard only
after the step has stamped the end at 11:00 (the same events as the seed-248 test, the buyer identified otherwise).
A licence buyer reads ACTIVE; this one stays ENDED for ever on a live agreement: every usage record refused
"subscription ended" (revenue lost), a Customer Ended announced to the seller's systems, and nothing but a new
activation undoes it (invariant 3: a buyer back on a live agreement ended by an earlier subscription's events).
Fails on 267f1c7 too (both readings of the licence's ends ignore the identifier's)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.lifecycle.notifications import parse_notification
from functions.settings import Settings
from tests.aws_corpus import eventbridge_example
from tests.unit.test_lifecycle_rules import ACCOUNT, PRODUCT, Buyer, World

IDENTIFIED = replace(PRODUCT, customer_mode="legacy")  # CustomerIdentifier buyers, EventBridge only (no SNS)
SECOND = "agmt-0000000000000000000000002"


def _identified_world(buyer: Buyer) -> World:
    world = World()
    world.lifecycle.settings = Settings(products=(IDENTIFIED,))
    arn = buyer.ref.license_arn
    buyer.ref = CustomerRef(IDENTIFIED.code, customer_identifier="cust-0001")
    world.customers.put(
        Customer(
            buyer.ref,
            ACCOUNT,
            SubscriptionState.PENDING,
            world.clock.now(),
            agreement_id=buyer.parties.agreement_id,
            legacy_license_arn=arn,
        )
    )
    return world


def _heard(world: World, buyer: Buyer, example: str, at: datetime) -> None:
    event = eventbridge_example(example, buyer.parties.with_(agreement_id=SECOND), at=at)
    world.lifecycle.handle(parse_notification(json.dumps(event), message_id="m", sent_at=world.clock.now()))


def test_the_step_end_of_the_left_agreement_does_not_end_an_identified_buyer_back_on_their_licence() -> None:
    buyer = Buyer()
    world = _identified_world(buyer)
    world.send(buyer, "created_proposer_new.json")
    world.send(buyer, "license_updated.json")
    assert world.state(buyer) is SubscriptionState.ACTIVE
    left = world.clock.now()
    world.send(buyer, "ended_proposer.json")  # their leave of agmt-1
    world.pass_time(61)  # the step finds the hour over: ENDED, stamped an hour after the leave
    assert world.state(buyer) is SubscriptionState.ENDED
    back = left + timedelta(minutes=58)
    _heard(world, buyer, "license_updated.json", back)  # back on the licence under agmt-2, heard late
    _heard(world, buyer, "created_proposer_new.json", back)
    world.pass_time(120)
    assert world.state(buyer) is SubscriptionState.ACTIVE, "back on a live agreement since 10:58"
