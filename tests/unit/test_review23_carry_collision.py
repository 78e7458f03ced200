"""Review of issue 23: where a leaving buyer's carry is placed in the hour after their final hour (the final-usage step
ran past the top of the hour) and what is left of it parked (no earlier hour free), both are records of that same
hour and key: the ledger keeps one of them (the placed maximum), parks it, and the rest of the carry vanishes: neither
billed nor parked, counted nowhere (simulator seed 493 with the review's final-hour carries)."""

from __future__ import annotations

from decimal import Decimal

from tests.unit.review23_world import World, hour


def test_every_unit_of_a_leaving_buyers_carry_is_billed_or_parked() -> None:
    world = World()
    world.subscribe()  # 08:00
    world.at(hour(8, 10))
    world.record(world.usage_event("u8", 1))
    world.at(hour(9, 10))
    world.record(world.usage_event("u9", 1))  # 08:00 and 09:00 hold a record: no earlier hour is free
    world.at(hour(10, 5))
    world.record(*(world.usage_event(f"big-{n}", 2_000_000_000) for n in range(3)))  # the maximum, and 3.85e9 over
    world.at(hour(10, 14))
    world.send("license_deprovisioned.json")  # usage taken until 10:59, the final-usage step at 11:00:30
    world.at(hour(14, 10))
    accepted = 6_000_000_002
    billed = sum(world.billed_hours().values())
    parked = sum((r.record.quantity for r in world.ledger.results.values() if r.status != "sent"), Decimal(0))
    assert billed + parked == accepted, f"billed {billed} + parked {parked}: {accepted - billed - parked} lost"
