"""Attack 48: with other metering Regions, the ``FUTURE_SKEW`` allowance pushes their final usage past the hour.

216dd7d caps a leaving buyer's cutoff at ``ending + 1 h - FINAL_SEND - delay``, the main Region's own budget. Synth
(``stacks/config.py``) gives a stack with ``regions`` a bigger one: the other Regions look for the main Region's
final-usage request every ``FINAL_USAGE_REQUESTS_EVERY_MINUTES`` (5), wait ``IN_FLIGHT_MARGIN`` for their own writes
in flight, then send (``FINAL_SEND``): cutoff + delay + 660 s must be inside the hour. Synth accepts cutoff 0 and
delay 60 with ``regions`` (720 s). A Purchase Agreement Ended stamped 10:00 heard at 10:44 used to get the cutoff
10:44 (the other Regions asked at 10:45, done by 10:56); now it gets 10:49 (10:44 + 5 min, under the main Region's
cap 10:54), the other Regions are asked at 10:50 and may send at 11:01, after Marketplace stopped taking the buyer's
records (11:00): every unit of the final hour metered in another Region (answered 200 there) is refused
CustomerNotSubscribed.

Correct: where other Regions meter (``Lifecycle.other_regions``), the skew allowance is capped by their budget too, so
they are asked no later than 11:00 - (300 + 60 + 300) s = 10:49."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

from functions.customers.model import FINAL_SEND, FINAL_USAGE_WINDOW, IN_FLIGHT_MARGIN, CustomerRef
from functions.lifecycle.notifications import parse_notification
from functions.settings import FINAL_USAGE_REQUESTS_EVERY_MINUTES
from stacks.config import load_config
from tests.aws_corpus import eventbridge_example
from tests.unit.review23_world import PRODUCT, World, hour
from tests.unit.test_atk35_final_usage_after_the_final_hour import LeavingMarketplace, deployed


class AskedRegions:
    def __init__(self) -> None:
        self.asked: list[datetime] = []

    def ask(self, ref: CustomerRef, at: datetime) -> None:
        self.asked.append(at)


def test_other_regions_are_asked_in_time_to_send_the_final_hour_after_a_leave_heard_late() -> None:
    context = {
        "products": [{"code": PRODUCT.code, "name": PRODUCT.name, "dimensions": [{"name": "calls"}]}],
        "final_usage_cutoff_seconds": 0,
        "final_usage_delay_seconds": 60,
        "region": "us-east-1",
        "regions": ["eu-west-1"],
    }
    settings = load_config(context).settings  # synth accepts it: 0 + 60 + 660 < 3,600
    world = World(marketplace=LeavingMarketplace)
    deployed(world, settings)
    regions = AskedRegions()
    world.lifecycle = replace(world.lifecycle, other_regions=regions)
    world.subscribe()

    # the agreement ended at 10:00 (Marketplace takes the buyer's records until 11:00); we hear it at 10:44
    closes = hour(10) + FINAL_USAGE_WINDOW
    world.at(hour(10, 44))
    ended = eventbridge_example("ended_proposer.json", world.parties, at=hour(10))
    world.lifecycle.handle(parse_notification(json.dumps(ended), message_id="m-late", sent_at=hour(10)))
    cutoff = world.customer().final_usage_cutoff
    world.at(hour(13, 10))

    assert regions.asked, "the other Regions were never asked"
    # what synth budgets for them after the ask: their schedule's period, their writes in flight, sending
    theirs = timedelta(minutes=FINAL_USAGE_REQUESTS_EVERY_MINUTES) + IN_FLIGHT_MARGIN + FINAL_SEND
    assert regions.asked[0] + theirs <= closes, (
        f"cutoff {cutoff:%H:%M:%S}: the other Regions asked at {regions.asked[0]:%H:%M:%S} may send at "
        f"{regions.asked[0] + theirs:%H:%M:%S}, after Marketplace closed the final hour at {closes:%H:%M}"
    )
