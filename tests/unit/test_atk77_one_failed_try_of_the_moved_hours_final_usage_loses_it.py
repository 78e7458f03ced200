"""Attack 77 (on fix73, e0ae121): the usage fix73 now takes after a second leave within the hour sent early is billed in
the moved hour, whose final usage runs at its start (11:01:30), minutes before Marketplace closes (11:10): one failed
try of that step, retried by SQS after the lifecycle queue's visibility timeout (720 s, as ``World`` and the simulator
redeliver it), comes after the close, and every unit of it, answered 200, goes out with the hourly flush and is
answered CustomerNotSubscribed. The same single fault on an ordinary leave, with the same settings, loses nothing.

The fault: one throttled write of ``final_usage_sent`` (a storage call that failed after the client's retries: the
simulator's ``storage_error``), failing the step's message. With the default settings (cutoff 2,700 s, delay 90 s), a
legacy buyer leaves at 10:10 and uses 5 calls at 10:20 and 4 at 10:50:

- an ordinary leave (no final usage sent before): the cutoff is 10:55, the step at 10:56:30 fails, SQS delivers it
  again at 11:08:30, before Marketplace closes at 11:10: all 9 calls billed (the control test, which passes);
- a buyer back at 10:03 after the final usage of their leave at 09:15 was sent (hour 10 sent early): the cutoff is
  moved to 11:00, the 9 calls are billed in 11:00 (taken by fix73's ingest; 4a498ad refused them, 422), the step at
  11:01:30 fails and comes again at 11:13:30, after the close: 9 units answered 200, never billed.

Not in the simulator's reach so far (it draws ``storage_error`` at most 0.001 per call). Correct: every unit answered
200 is billed; here, either usage is not taken into an hour whose final usage leaves no room for the retry the product
relies on, or the step retries within the hour.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.flush.customer import final_usage_sender
from functions.storage.errors import StorageError
from tests.fakes import InMemoryCustomers
from tests.unit.review23_world import IDENTIFIER, LEGACY, World, hour, legacy_sns, legacy_usage
from tests.unit.test_atk35_final_usage_after_the_final_hour import LeavingMarketplace
from tests.unit.test_atk35_leaving_again_after_final_usage_sent import answered_200


class OneThrottledMark(InMemoryCustomers):
    """The customers table, whose first write of ``final_usage_sent`` at or after ``throttled_from`` is throttled."""

    throttled_from: datetime | None = None

    def mark_final_usage_sent(self, ref: CustomerRef, cutoff: datetime) -> bool:
        if self.throttled_from is not None and cutoff >= self.throttled_from:
            self.throttled_from = None
            raise StorageError("throttled", code="ProvisionedThroughputExceededException", retryable=True)
        return super().mark_final_usage_sent(ref, cutoff)


def _world() -> tuple[World, OneThrottledMark, LeavingMarketplace, CustomerRef]:
    world = World(product=LEGACY, marketplace=LeavingMarketplace)
    customers = OneThrottledMark(world.customers.lifecycle_store)
    world.customers = customers
    world.deps = replace(world.deps, customers=customers)
    world.timers.send_usage = final_usage_sender(world.deps)
    world.lifecycle = replace(world.lifecycle, customers=customers)
    marketplace = world.marketplace
    assert isinstance(marketplace, LeavingMarketplace)
    ref = CustomerRef(LEGACY.code, customer_identifier=IDENTIFIER)
    customers.put(Customer(ref, "845735284135", SubscriptionState.PENDING, world.clock.now()))
    legacy_sns(world, "subscription_subscribe-success.txt")  # 08:00
    return world, customers, marketplace, ref


def _use_and_settle(world: World, marketplace: LeavingMarketplace) -> tuple[int, int]:
    """5 calls at 10:20 and 4 at 10:50; the world run to 14:10: (calls answered 200, calls billed)."""
    world.at(hour(10, 20))
    accepted = answered_200(world, legacy_usage(world, "u-1020", 5))
    world.at(hour(10, 50))
    accepted += answered_200(world, legacy_usage(world, "u-1050", 4))
    world.at(hour(14, 10))
    return accepted, sum(world.billed_hours().values())


def test_control_one_failed_try_of_an_ordinary_final_usage_is_retried_in_time() -> None:
    world, customers, marketplace, _ = _world()
    world.at(hour(10, 10))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")  # cutoff 10:55
    marketplace.closes = hour(11, 10)
    customers.throttled_from = hour(10)
    accepted, billed = _use_and_settle(world, marketplace)
    assert accepted == 9
    assert billed == accepted


def test_one_failed_try_of_the_moved_hours_final_usage_loses_the_usage_taken_into_it() -> None:
    world, customers, marketplace, ref = _world()
    # Given a buyer who left at 09:15 (their final usage out at 10:01:30, hour 10 sent early), back at 10:03
    world.at(hour(9, 15))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    world.at(hour(10, 3))
    legacy_sns(world, "subscription_subscribe-success.txt")
    # and leaving again at 10:10: cutoff moved to 11:00 (Marketplace takes their records until 11:10)
    world.at(hour(10, 10))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    assert (again := customers.get(ref)) is not None
    assert again.final_usage_cutoff == hour(11)
    marketplace.closes = hour(11, 10)
    # and one throttled write of final_usage_sent when the step for that cutoff runs (11:01:30)
    customers.throttled_from = hour(10, 30)

    # When they use 9 calls before the planned cutoff (10:55) and the hours settle
    accepted, billed = _use_and_settle(world, marketplace)

    # Then every call answered 200 is billed
    refused = sum(int(r.quantity) for r in marketplace.refused)
    assert billed == accepted, (
        f"billed {billed} of {accepted} calls answered 200; {refused} answered CustomerNotSubscribed (the step retried "
        "at 11:13:30, after Marketplace closed at 11:10)"
    )
