"""Attack 48: a leave heard late, with a long (valid) final-usage delay, still waits the whole delay.

216dd7d caps only the ``FUTURE_SKEW`` part of a leaving buyer's cutoff at ``ending + 1 h - FINAL_SEND - delay``; a
leave heard after that point gets the cutoff ``now`` and its final usage ``now + delay``. Synth accepts
``final_usage_cutoff_seconds`` 1,800 with ``final_usage_delay_seconds`` 900 (1,800 + 900 + 300 < 3,600). A Purchase
Agreement Ended stamped 10:00 (Marketplace takes the buyer's records until 11:00) that we only hear at 10:46 (its
message failed and came back after the queue's 720 s visibility timeout, as in attack 47) gets the cutoff 10:46 and
the final-usage step at 11:01: every record of the final hour (5 calls at 10:20 and 7 at 10:40, answered 200 while
the buyer read active) is answered CustomerNotSubscribed. 12 units lost.

Correct: the step only has to wait for writes in flight (``IN_FLIGHT_MARGIN``, 60 s) to land; with 14 minutes of the
final hour left it sends the hour in time (the wait capped so that the step still lands inside the final hour)."""

from __future__ import annotations

import json

from functions.customers.model import FINAL_USAGE_WINDOW
from functions.lifecycle.notifications import parse_notification
from stacks.config import load_config
from tests.aws_corpus import eventbridge_example
from tests.unit.review23_world import LICENCE_ARN, PRODUCT, World, hour
from tests.unit.test_atk35_final_usage_after_the_final_hour import LeavingMarketplace, deployed


def test_a_leave_heard_fourteen_minutes_before_marketplace_closes_bills_the_final_hour_with_a_long_delay() -> None:
    context = {
        "products": [{"code": PRODUCT.code, "name": PRODUCT.name, "dimensions": [{"name": "calls"}]}],
        "final_usage_cutoff_seconds": 1800,
        "final_usage_delay_seconds": 900,
    }
    settings = load_config(context).settings  # synth accepts it: 1,800 + 900 + 300 < 3,600
    world = World(marketplace=LeavingMarketplace)
    marketplace = world.marketplace
    assert isinstance(marketplace, LeavingMarketplace)
    deployed(world, settings)
    world.subscribe()

    world.at(hour(10, 20))
    assert world.record(world.usage_event("u-1020", 5)).accepted == ("u-1020",)
    world.at(hour(10, 40))
    assert world.record(world.usage_event("u-1040", 7)).accepted == ("u-1040",)

    # their agreement ended at 10:00 (Marketplace takes their records until 11:00); we hear it at 10:46
    marketplace.closes = hour(10) + FINAL_USAGE_WINDOW
    world.at(hour(10, 46))
    ended = eventbridge_example("ended_proposer.json", world.parties, at=hour(10))
    world.lifecycle.handle(parse_notification(json.dumps(ended), message_id="m-late", sent_at=hour(10)))
    cutoff = world.customer().final_usage_cutoff
    world.at(hour(13, 10))

    refused = sum(int(r.quantity) for r in marketplace.refused)
    assert marketplace.units(LICENCE_ARN) == 12, (
        f"billed {marketplace.units(LICENCE_ARN)} of 12 units; {refused} refused CustomerNotSubscribed "
        f"(cutoff {cutoff:%H:%M:%S}, final usage sent at cutoff + 900 s, Marketplace closed at 11:00)"
    )
