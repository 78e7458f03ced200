"""Review 25b: a parked carry (``#carried-past-end``, failed CarriedPastEnd) is written pending first and marked
failed in a second write, by the final-usage step and now by the flush's ``finish_placements`` alike. A writer that
dies between the two (a throttled write, as in seed 17687) leaves it pending; the redrive refuses such a record, so
nothing but a dead writer ever leaves one pending. The next flush sealing the hour took it for an unsent record and
sent it to Marketplace, for the hour after the buyer's final hour: billed for usage they did not have then (or, were
they subscribed again, taking that hour's record from their new usage)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

from functions.flush.records import PARKED_CARRY, MeteringRecord, RecordResult
from functions.flush.service import flush
from functions.storage.errors import StorageError
from tests.fakes import InMemoryLedger
from tests.unit.review23_world import World, hour


class ThrottledOnce(InMemoryLedger):
    """The ledger, whose first write of a parked carry's outcome is throttled."""

    def __init__(self) -> None:
        super().__init__()
        self.throttle = False

    def write_results(self, results: Sequence[RecordResult]) -> None:
        if self.throttle and any(r.record.key.endswith(PARKED_CARRY) for r in results):
            self.throttle = False
            raise StorageError("throttled", code="ProvisionedThroughputExceededException", retryable=True)
        super().write_results(results)


def _placed_carry(world: World) -> tuple[MeteringRecord, MeteringRecord]:
    """A buyer billed 5 in hour 8; a step placed a carry of 10 into hour 10: 7 in hour 9, 3 parked."""
    world.subscribe()
    world.at(hour(8, 10))
    assert world.record(world.usage_event("u8", 5)).accepted == ("u8",)
    world.at(hour(10, 30))  # hours 8 and 9 sealed (no usage in 9), 10 open: the buyer's step runs
    [sealed] = [e.record for e in world.ledger.entries_of_hour(hour(8))]
    carry = replace(sealed, hour=hour(10), quantity=Decimal(10), events=2)
    placement = [(hour(9), Decimal(7)), (None, Decimal(3))]
    assert world.ledger.place_carry(carry, placement) == placement
    in_hour_9 = replace(carry, hour=hour(9), quantity=Decimal(7), events=0)
    parked = replace(carry, key=carry.key + PARKED_CARRY, quantity=Decimal(3), events=0)
    return in_hour_9, parked


def _assert_parked_never_sent(world: World, parked: MeteringRecord) -> None:
    sent = [r for call in world.marketplace.calls for r in call if r.key.endswith(PARKED_CARRY)]
    assert sent == [], f"a parked carry of {parked.quantity} units was sent to Marketplace for 10:00"
    assert world.billed_hours() == {hour(8): 5, hour(9): 7}
    [stored] = [e for e in world.ledger.entries_of_hour(hour(10)) if e.record.key == parked.key]
    assert (stored.status, stored.reason, stored.record.quantity) == ("failed", "CarriedPastEnd", Decimal(3))


def test_a_step_that_died_before_parking_what_it_wrote_leaves_no_carry_to_send() -> None:
    world = World()
    in_hour_9, parked = _placed_carry(world)
    # the step wrote the records it placed, then died before marking the parked one failed (never tried again)
    world.ledger.write_pending([in_hour_9, parked])
    world.at(hour(12, 30))  # the flush seals hour 10 at 11:06, and 11 at 12:06
    _assert_parked_never_sent(world, parked)


def test_a_flush_that_died_before_parking_what_it_wrote_leaves_no_carry_to_send() -> None:
    world = World()
    ledger = ThrottledOnce()
    world.use_ledger(ledger)
    _, parked = _placed_carry(world)  # the step died right after placing
    world.at(hour(11, 5))
    ledger.throttle = True
    with contextlib.suppress(StorageError):
        flush(world.deps, remaining_ms=lambda: 900_000)  # seals hour 10: its writer dies parking the 3
    assert not ledger.throttle
    world.at(hour(12, 30))  # the next flushes seal hour 10 again, and 11
    _assert_parked_never_sent(world, parked)


def test_a_carry_the_flush_parks_is_counted_among_its_failed_records() -> None:
    world = World()
    _, parked = _placed_carry(world)  # the step died right after placing
    world.at(hour(11, 5))
    report = flush(world.deps, remaining_ms=lambda: 900_000)  # seals hour 10
    # counted as the step counts it (RecordsFailed, alarmed): a parked carry is never silently absent
    assert report.failed == {"CarriedPastEnd": 1}
    assert world.billed_hours() == {hour(8): 5, hour(9): 7}
    _assert_parked_never_sent(world, parked)
