"""Review of issue 23: a refused batch's events are looked up among those stored before (to report duplicates), and
that lookup takes each timestamp's hour in UTC: a timestamp at the edge of the calendar with a zone offset (.NET's
DateTime.MinValue written in local time, say) overflows there, and the producer's mistake becomes a 500."""

from __future__ import annotations

import pytest

from functions.usage.ingest import UsageRejected
from tests.unit.review23_world import World, hour


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00"])
def test_a_timestamp_out_of_the_calendar_in_utc_is_a_4xx_naming_it_even_for_an_id_stored_before(stamp: str) -> None:
    world = World()
    world.subscribe()
    world.at(hour(9, 10))
    assert world.record(world.usage_event("e1", 5)).accepted == ("e1",)
    # When the producer resends e1 (same dimension and quantity) with a timestamp its bug wrote
    with pytest.raises(UsageRejected) as refused:
        world.record({**world.usage_event("e1", 5), "timestamp": stamp})
    # Then it is refused, the field named (not an OverflowError: an unhandled exception is the API's 5xx)
    assert [e.field for e in refused.value.errors] == ["events[0].timestamp"]
