"""Where live metering starts at go-live (docs/go-live.md, "Which hours are billed"): every hour the flush seals after
the deploy is billed live, the hour in progress with it; an hour the rehearsal's flush sealed before it stays
``dry_run``. So an hour that closed before the deploy but was not sealed yet (the hourly run comes a few minutes past
the hour) is billed live, rehearsal usage and all: the guide tells the operator to deploy after the hourly run.
Attack 70 found the boundary undocumented (its test, on branch ``atk70``, asked for the other contract)."""

from __future__ import annotations

from tests.fakes import LoggedMarketplace
from tests.unit.review23_world import World, hour


def _rehearsal_then_go_live(at_minute: int) -> World:
    """The rehearsal from 08:00 (dry-run flushes at :06); 500 units at 09:20 and 7 at 10:30; go-live deployed at
    10:``at_minute``; the flushes to 12:10."""
    world = World(marketplace=lambda clock: LoggedMarketplace(clock))
    live = world.deps
    world.deps = world.dry_run_deps()
    world.subscribe()
    world.at(hour(9, 20))
    assert world.units_taken("used-in-the-rehearsal", 500) == 500
    world.at(hour(10, at_minute))
    world.deps = live
    world.at(hour(10, 30))
    assert world.units_taken("used-after-going-live", 7) == 7
    world.at(hour(12, 10))
    return world


def test_going_live_after_the_hourly_run_bills_from_the_hour_in_progress() -> None:
    world = _rehearsal_then_go_live(7)  # after the rehearsal's 10:06 run sealed 09:00
    assert world.ledger.sealed_in_dry_run(hour(9))
    assert not world.ledger.sealed_in_dry_run(hour(10))
    assert world.billed_hours() == {hour(10): 7}


def test_going_live_before_the_hourly_run_bills_the_hour_that_closed_before_it() -> None:
    world = _rehearsal_then_go_live(2)  # 09:00 closed, not sealed yet: the 10:06 run is live
    assert world.ledger.sealed_in_dry_run(hour(8))
    assert not world.ledger.sealed_in_dry_run(hour(9))
    assert world.billed_hours() == {hour(9): 500, hour(10): 7}
