"""Attack 35: synth accepts a final-usage delay shorter than the in-flight margin, and a leaving buyer's last accepted
usage is then sealed out of their final usage and sent after Marketplace stops taking it.

docs/metering.md: the final usage is sent ``FINAL_USAGE_DELAY_SECONDS`` "(default 90, at least the 60 s in-flight
margin) after the cutoff", and ``functions/settings.py`` says the delay "must cover usage writes still in flight, i.e.
at least IN_FLIGHT_MARGIN, in AWS". Nothing enforces it: ``Settings`` takes 0..900 and ``stacks/config.py`` checks the
delay only with ``regions`` (and then only its sum with the cutoff). With ``final_usage_delay_seconds: 0`` a batch the
usage API accepted a second before the cutoff, whose write lands a few seconds later (a throttled statement retried,
well inside the 15 s start deadline and the ~40 s bound the margin is for), is not there when the final-usage step
reads the buyer's final hour at the cutoff: the step sends nothing for it, and the hourly flush bills it at 11:06,
after the final hour Marketplace took usage in (``FINAL_USAGE_WINDOW``): CustomerNotSubscribed. The batch was
answered 200; its 7 units are never billed.

Correct: synth refuses a delay under the in-flight margin (naming it), or every unit accepted is billed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

from functions.clock import ManualClock
from functions.customers.model import FINAL_USAGE_WINDOW
from functions.settings import Settings
from functions.usage.model import UsageEvent
from stacks.config import ConfigError, load_config
from tests.fakes import InMemoryUsage
from tests.unit.review23_world import LICENCE_ARN, PRODUCT, World, hour
from tests.unit.test_atk35_final_usage_after_the_final_hour import LeavingMarketplace, deployed

WRITE_TAKES = timedelta(seconds=5)  # a statement throttled once and retried: it lands 5 s after it started


class SlowWrites(InMemoryUsage):
    """The usage table, whose event writes land ``WRITE_TAKES`` after they start once ``meanwhile`` is set (what else
    runs in that time: the world's timers and schedule)."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__()  # no write-start deadline here: these writes start at once, they only take a while
        self.clock = clock
        self.meanwhile: Callable[[], None] | None = None

    def add(self, events: Sequence[UsageEvent]) -> list[bool]:
        if self.meanwhile is not None:
            self.meanwhile()
        return super().add(events)


def single_region_settings() -> Settings | None:
    """The stack's settings as synth builds them from cdk.json (no ``regions``); None where synth refuses them."""
    context = {
        "products": [{"code": PRODUCT.code, "name": PRODUCT.name, "dimensions": [{"name": "calls"}]}],
        "final_usage_delay_seconds": 0,  # within the documented range 0..900
    }
    try:
        return load_config(context).settings
    except ConfigError as error:
        refused = str(error)
    assert "final_usage_delay_seconds" in refused, refused  # refused, naming the setting: nothing can be lost to it
    return None


def test_usage_accepted_just_before_the_cutoff_is_billed_with_a_delay_synth_accepts() -> None:
    settings = single_region_settings()
    if settings is None:
        return  # the configuration cannot be deployed
    world = World(usage=SlowWrites, marketplace=LeavingMarketplace)
    usage, marketplace = world.usage, world.marketplace
    assert isinstance(usage, SlowWrites)
    assert isinstance(marketplace, LeavingMarketplace)
    deployed(world, settings)

    # Given a buyer subscribed at 08:00 who used 3 calls at 09:10, whose agreement ends at 10:00 (cutoff 10:45)
    world.subscribe()
    world.at(hour(9, 10))
    assert world.record(world.usage_event("u-0910", 3)).accepted == ("u-0910",)
    world.at(hour(10))
    world.send("ended_proposer.json")
    marketplace.closes = hour(10) + FINAL_USAGE_WINDOW
    assert world.customer().final_usage_cutoff == hour(10, 45)
    # When 7 calls are accepted at 10:44:59 and their write lands 5 s later (the final-usage step runs at 10:45:00)
    world.at(hour(10, 45) - timedelta(seconds=1))
    usage.meanwhile = lambda: world.at(world.clock.now() + WRITE_TAKES)
    assert world.record(world.usage_event("u-104459", 7)).accepted == ("u-104459",)  # answered 200
    usage.meanwhile = None
    world.at(hour(13, 10))

    # Then all 10 units accepted are billed
    refused = sum(int(r.quantity) for r in marketplace.refused)
    assert marketplace.units(LICENCE_ARN) == 10, (
        f"billed {marketplace.units(LICENCE_ARN)} of 10 units accepted; {refused} answered CustomerNotSubscribed "
        f"(sent at or after {marketplace.closes:%H:%M}, the end of the buyer's final hour)"
    )
