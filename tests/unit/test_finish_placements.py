"""A leaving buyer's final-usage step places what their last hour carries on (usage over one record's maximum) in
earlier hours of theirs, or parks it, before it writes those records; a step that dies in between and is never tried
again (a legacy buyer back under the same identifier needs no final usage any more: simulator seed 17687) left the
carry billed nowhere, since the hour's sealing does not take a placed carry in. The flush sealing the carry's hour
writes the placement's records as the step would have."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from functions.flush.records import PARKED_CARRY
from tests.unit.review23_world import World, hour


def test_a_carry_placed_by_a_step_that_died_is_billed_where_it_was_placed_and_parked_where_it_was_parked() -> None:
    world = World()
    world.subscribe()
    world.at(hour(8, 10))
    assert world.record(world.usage_event("u8", 5)).accepted == ("u8",)
    world.at(hour(9, 30))  # hour 8 sealed and billed at 9:06; nothing used in hour 9
    [sealed] = [e.record for e in world.ledger.entries_of_hour(hour(8))]
    # Given a final-usage step that placed a carry of 10 into hour 10 (7 in hour 9, 3 parked), then died
    carry = replace(sealed, hour=hour(10), quantity=Decimal(10), events=2)
    placement = [(hour(9), Decimal(7)), (None, Decimal(3))]
    assert world.ledger.place_carry(carry, placement) == placement
    # When the flush seals hour 10 (at 11:06), and again an hour later
    world.at(hour(12, 30))
    # Then the 7 are billed in hour 9, once; hour 10 bills nothing of the carry
    assert world.billed_hours() == {hour(8): 5, hour(9): 7}
    # and the 3 are parked as the step parks them, under their own key
    [parked] = [e for e in world.ledger.entries_of_hour(hour(10)) if e.record.key.endswith(PARKED_CARRY)]
    assert (parked.status, parked.reason, parked.record.quantity) == ("failed", "CarriedPastEnd", Decimal(3))
    assert [e.record.key for e in world.ledger.entries_of_hour(hour(10))] == [sealed.key + PARKED_CARRY]
