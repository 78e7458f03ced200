"""Usage may be stamped up to ``FUTURE_SKEW`` ahead of our clock (producers' clocks drift). A buyer whose usage of the
next hour was accepted a minute before they left, with a cutoff at the very start of their final hour (51 s: synth
accepts it), had that hour kept out of their final usage (the cutoff's hour only) and sent by the flush after
Marketplace stopped taking their records: answered 200, never billed (simulator seed 31209, settings drawn). The
cutoff is now never set before what usage accepted until then may be stamped, so that hour is in their final usage."""

from __future__ import annotations

from datetime import timedelta

from functions.customers.model import FINAL_USAGE_WINDOW, FUTURE_SKEW
from stacks.config import load_config
from tests.unit.review23_world import LICENCE_ARN, PRODUCT, World, hour
from tests.unit.test_atk35_final_usage_after_the_final_hour import LeavingMarketplace, deployed


def test_usage_stamped_into_the_next_hour_before_the_buyer_left_is_billed_in_their_final_usage() -> None:
    context = {
        "products": [{"code": PRODUCT.code, "name": PRODUCT.name, "dimensions": [{"name": "calls"}]}],
        "final_usage_cutoff_seconds": 51,
        "final_usage_delay_seconds": 429,
    }
    world = World(marketplace=LeavingMarketplace)
    marketplace = world.marketplace
    assert isinstance(marketplace, LeavingMarketplace)
    deployed(world, load_config(context).settings)
    world.subscribe()

    # 38 calls of 09:50 and, stamped three minutes ahead, 8 calls of 10:00:30, both accepted at 09:57:30
    world.at(hour(9, 57.5))
    ahead = world.clock.now() + timedelta(minutes=3)
    assert ahead - world.clock.now() <= FUTURE_SKEW
    events = (world.usage_event("u-0950", 38, hour(9, 50)), world.usage_event("u-1000", 8, ahead))
    assert world.record(*events).accepted == ("u-0950", "u-1000")
    # the agreement ends at 09:58:39: Marketplace takes their records until 10:58:39
    world.at(hour(9, 58.65))
    world.send("ended_proposer.json")
    marketplace.closes = world.clock.now() + FINAL_USAGE_WINDOW
    cutoff, left = world.customer().final_usage_cutoff, world.clock.now()
    world.at(hour(13, 10))

    assert world.billed_hours() == {hour(9): 38, hour(10): 8}, f"refused: {marketplace.refused}"
    assert marketplace.units(LICENCE_ARN) == 46
    assert cutoff == left + FUTURE_SKEW  # not 51 s into the final hour
