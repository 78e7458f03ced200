"""Attack 76 (pre-existing, found by the change's simulator invariant 8 at seed 763164 with ``--quick-returns
--random-settings``, not its known cutoff class: that buyer had no earlier leave). A leaving buyer's cutoff falls in the
last minute of an hour: they left at 09:14:30, so with the default 45-minute cutoff their usage is taken until 09:59:30,
and Marketplace takes their records until 10:14:30. A late event (stamped in an hour already sealed) received at
09:59:10, before the cutoff, is billed in ``late_billing_hour``: the hour of ``now + IN_FLIGHT_MARGIN``, 10:00, after
the final hour (09:00), so it is refused "is after this subscription's final hour". Yet hour 09:00 still takes usage
until 10:04 (sealed at 10:05 with the 300 s grace), the write lands by 10:00:10, and the final-usage step sends hour
09:00 at 10:00:30: the event fits the final hour it was refused from.

Broken: usage that is the buyer's and billable is not refused. Every late event received in the minute before a cutoff
that falls in the last minute of its hour is lost: 4 units here (the simulator's seed: 4 calls; any quantity)."""

from __future__ import annotations

from datetime import timedelta

from functions.usage.ingest import UsageRejected
from tests.unit.review23_world import World, hour


def test_a_late_event_before_the_cutoff_is_billed_in_the_final_hour() -> None:
    world = World()
    world.subscribe()  # 08:00
    world.at(hour(9, 14.5))
    world.send("license_deprovisioned.json")  # they leave at 09:14:30 (AWS's 2026 order)
    world.at(hour(9, 15))
    world.send("ended_proposer.json")
    assert world.customer().final_usage_cutoff == hour(9, 59.5)
    world.at(hour(9, 59) + timedelta(seconds=10))  # before the cutoff
    try:
        answered = 4 * len(world.record(world.usage_event("late", 4, stamp=hour(8, 30))).accepted)
    except UsageRejected:
        answered = 0  # on atk76: "is after this subscription's final hour (09:59:30)"
    world.at(hour(12))
    assert (answered, world.billed_hours()) == (4, {hour(9): 4}), "the buyer's late usage refused: revenue lost"
