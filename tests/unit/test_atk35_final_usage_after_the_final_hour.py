"""Attack 35: a single-Region stack accepts a final hour that ends before its final usage is sent.

``final_usage_cutoff_seconds`` (0..3300) and ``final_usage_delay_seconds`` (0..900) are each checked on their own
(``functions.settings.Settings``); only a stack with other metering Regions (``stacks/config.py``, ``regions``) checks
that the cutoff, the delay and what follows them fit in the final hour. Without ``regions``, cdk.json may set, say,
``final_usage_cutoff_seconds: 3000`` (take usage 50 minutes into the final hour) and ``final_usage_delay_seconds:
900`` (wait long for writes in flight): synth accepts it, the usage API answers 200 for the buyer's usage until the
cutoff, and the final-usage step sends it 65 minutes after the buyer's final hour opened, when Marketplace takes
no more usage of theirs (``functions.customers.model.FINAL_USAGE_WINDOW``, an hour; the simulator's Marketplace
answers CustomerNotSubscribed then, and so does this test's). Every unit of the final hour is lost, each accepted
with a 200 ("a 200 means billed"). The default cutoff (2,700 s) with the largest delay (900 s) already reaches the
end of the hour.

Found by the simulator with these settings (not its defaults): ``SIM_FINAL_USAGE_CUTOFF_SECONDS=3300
SIM_FINAL_USAGE_DELAY_SECONDS=900``, seed 71000 (``sim/world.py`` patched to read them; not committed).

Correct: either the configuration is refused at synth, naming the settings (as it is with ``regions``), or every
unit accepted is billed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from functions.clock import ManualClock
from functions.customers.model import FINAL_USAGE_WINDOW, SubscriptionState
from functions.flush.customer import final_usage_sender
from functions.flush.records import BatchOutcome, MeteringRecord, RecordOutcome
from functions.settings import Settings
from stacks.config import ConfigError, load_config
from tests.fakes import FakeMarketplace, Timers
from tests.unit.review23_world import LICENCE_ARN, PRODUCT, World, hour


class LeavingMarketplace(FakeMarketplace):
    """Marketplace as our code describes it: a leaving buyer's usage is taken for an hour after their final hour
    opened (``FINAL_USAGE_WINDOW``), then answered CustomerNotSubscribed and never billed."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__()
        self.clock = clock
        self.closes: datetime | None = None
        self.refused: list[MeteringRecord] = []

    def batch_meter_usage(self, records: Sequence[MeteringRecord]) -> BatchOutcome:
        if self.closes is None or self.clock.now() < self.closes:
            return super().batch_meter_usage(records)
        self.calls.append(list(records))
        self.refused.extend(records)
        return BatchOutcome(tuple(RecordOutcome(r, "CustomerNotSubscribed", None) for r in records), ())


def leaving_world(**settings: Any) -> tuple[World, LeavingMarketplace, int]:
    """A licence buyer subscribed under agmt-1 at 08:00 who used 3 calls at 09:30, in a world whose Marketplace stops
    taking their records when told (``closes``), deployed with ``settings`` changed: the world, its Marketplace, and
    the units answered 200."""
    world = World(marketplace=LeavingMarketplace)
    if settings:
        deployed(world, replace(world.settings, **settings))
    marketplace = world.marketplace
    assert isinstance(marketplace, LeavingMarketplace)
    world.subscribe()
    world.at(hour(9, 30))
    return world, marketplace, world.units_taken("u-0930", 3)


def back_on_licence(world: World, agreement_id: str, at: datetime) -> None:
    """The buyer back on their licence under ``agreement_id`` at ``at``: its Created and License Updated, heard then."""
    world.at(at)
    world.send_stamped("created_proposer_new.json", at, agreement_id=agreement_id)
    world.send_stamped("license_updated.json", at, agreement_id=agreement_id)
    assert world.customer().state is SubscriptionState.ACTIVE


def leaves(world: World, marketplace: LeavingMarketplace, agreement_id: str, ended: datetime, closed: datetime) -> None:
    """The buyer leaving ``agreement_id``: its Ended at ``ended``, its Deprovisioned at ``closed`` (the seller guide's
    order: it closes the hour), each heard then; Marketplace takes their records for an hour from ``ended``."""
    world.at(ended)
    world.send_stamped("ended_proposer.json", ended, agreement_id=agreement_id)
    world.at(closed)
    world.send_stamped("license_deprovisioned.json", closed, agreement_id=agreement_id)
    assert world.customer().state is SubscriptionState.ENDED
    marketplace.closes = ended + FINAL_USAGE_WINDOW


def single_region_settings() -> Settings | None:
    """The stack's settings as synth builds them from cdk.json (no ``regions``); None where synth refuses them."""
    context = {
        "products": [{"code": PRODUCT.code, "name": PRODUCT.name, "dimensions": [{"name": "calls"}]}],
        "final_usage_cutoff_seconds": 3000,  # 50 minutes into the final hour (at most 3,300)
        "final_usage_delay_seconds": 900,  # 15 minutes for writes in flight (at most 900)
    }
    try:
        return load_config(context).settings
    except ConfigError as error:
        refused = str(error)
    assert "final_usage" in refused, refused  # refused, naming the settings: nothing accepted can be lost
    return None


def deployed(world: World, settings: Settings) -> None:
    """The world running under ``settings`` as synth built them (its own products kept)."""
    world.settings = replace(settings, products=world.settings.products)
    world.deps = replace(world.deps, settings=world.settings)
    world.timers = Timers(send_usage=final_usage_sender(world.deps))
    world.lifecycle = replace(world.lifecycle, settings=world.settings, final_usage=world.timers)


def test_every_unit_accepted_in_a_leaving_buyers_final_hour_is_billed_with_a_valid_configuration() -> None:
    settings = single_region_settings()
    if settings is None:
        return  # the configuration cannot be deployed: no buyer's usage can be lost to it
    world = World(marketplace=LeavingMarketplace)
    marketplace = world.marketplace
    assert isinstance(marketplace, LeavingMarketplace)
    deployed(world, settings)

    # Given a buyer subscribed at 08:00 who used 3 calls at 09:10
    world.subscribe()
    world.at(hour(9, 10))
    assert world.record(world.usage_event("u-0910", 3)).accepted == ("u-0910",)
    # whose agreement ends at 10:00 (Purchase Agreement Ended, the seller guide's order: their final hour opens)
    world.at(hour(10))
    world.send("ended_proposer.json")
    marketplace.closes = hour(10) + FINAL_USAGE_WINDOW
    # and who uses 7 calls at 10:40, before the cutoff (10:50): the usage API answers 200
    world.at(hour(10, 40))
    assert world.record(world.usage_event("u-1040", 7)).accepted == ("u-1040",)

    # When the final-usage step (10:50 + 15 min = 11:05) and the hourly flush (11:06) have run
    world.at(hour(13, 10))

    # Then all 10 units are billed: none refused because they were sent after Marketplace stopped taking them
    refused = sum(int(r.quantity) for r in marketplace.refused)
    assert marketplace.units(LICENCE_ARN) == 10, (
        f"billed {marketplace.units(LICENCE_ARN)} of 10 units accepted; {refused} answered CustomerNotSubscribed "
        f"(sent at or after {marketplace.closes:%H:%M}, the end of the buyer's final hour)"
    )
