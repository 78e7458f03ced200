"""Attack 47: a leave heard late has its final usage pushed past the end of the final hour by ``FUTURE_SKEW``.

e2b3a1a sets a leaving buyer's cutoff never before ``now + FUTURE_SKEW`` while Marketplace still takes their records.
With the stack's default settings (cutoff 2,700 s, delay 90 s), a Purchase Agreement Ended stamped 10:00 that we only
hear at 10:54 (its lifecycle message failed and came back after the queue's 720 s visibility timeout a few times, or
was redriven) used to get the cutoff 10:54 and its final usage at 10:55:30, six minutes before Marketplace stops
taking the buyer's records (11:00). Now the cutoff is 10:59 and the step waits until 11:00:30: every record of the
final hour (10:00 to 10:54, all answered 200 while the buyer read active) is answered CustomerNotSubscribed. The
final hour is lost whole (here 12 units), to keep a 5-minute allowance for usage stamped ahead that is worth at most
those 5 minutes; and the new cutoff also runs past the hour the config check (``stacks/config.py``) budgets, since
``FUTURE_SKEW`` is not in its sum.

Correct: with Marketplace still taking the buyer's records when the leave is heard, the final usage of the hour is
sent before it stops (the cutoff capped so that cutoff + delay stays inside the final hour, or the step sending at
once when its wait would run past it)."""

from __future__ import annotations

import json

from functions.customers.model import FINAL_USAGE_WINDOW
from functions.lifecycle.notifications import parse_notification
from stacks.config import load_config
from tests.aws_corpus import eventbridge_example
from tests.unit.review23_world import LICENCE_ARN, PRODUCT, World, hour
from tests.unit.test_atk35_final_usage_after_the_final_hour import LeavingMarketplace, deployed


def test_a_leave_heard_six_minutes_before_marketplace_closes_still_bills_the_final_hour() -> None:
    products = [{"code": PRODUCT.code, "name": PRODUCT.name, "dimensions": [{"name": "calls"}]}]
    settings = load_config({"products": products}).settings
    assert (settings.final_usage_cutoff_seconds, settings.final_usage_delay_seconds) == (2700, 90)  # the defaults
    world = World(marketplace=LeavingMarketplace)
    marketplace = world.marketplace
    assert isinstance(marketplace, LeavingMarketplace)
    deployed(world, settings)
    world.subscribe()

    # the buyer uses 5 calls at 10:20 and 7 at 10:50, still active as far as we know: both answered 200
    world.at(hour(10, 20))
    assert world.record(world.usage_event("u-1020", 5)).accepted == ("u-1020",)
    world.at(hour(10, 50))
    assert world.record(world.usage_event("u-1050", 7)).accepted == ("u-1050",)

    # their agreement ended at 10:00 (Marketplace takes their records until 11:00); we hear it at 10:54
    marketplace.closes = hour(10) + FINAL_USAGE_WINDOW
    world.at(hour(10, 54))
    ended = eventbridge_example("ended_proposer.json", world.parties, at=hour(10))
    world.lifecycle.handle(parse_notification(json.dumps(ended), message_id="m-late", sent_at=hour(10)))
    cutoff = world.customer().final_usage_cutoff
    world.at(hour(13, 10))

    refused = sum(int(r.quantity) for r in marketplace.refused)
    assert marketplace.units(LICENCE_ARN) == 12, (
        f"billed {marketplace.units(LICENCE_ARN)} of 12 units; {refused} refused CustomerNotSubscribed "
        f"(cutoff {cutoff:%H:%M:%S}, final usage sent at cutoff + 90 s, Marketplace closed at 11:00)"
    )
