"""Attack 83 (on c1290f2): attack 82's history still loses usage for buyers whose leave is named by when its final hour
opened ("opened:<time>", ``_leave_of``'s fallback where no agreement of theirs has a start heard). A License
Deprovisioned stamped before the leave that opened the hour, heard after the final usage went out, moves that opening
earlier for the same leave: ``_another_leave`` reads this leave's own sent cutoff as an earlier leave's, it is replaced
by one in the next hour (11:02), the final usage is sent again and hour 11 is marked sent early. What the buyer uses
when back within it is billed in hour 12, past the final hour of their next leave: 5 units answered 200, never
billed (CustomerNotSubscribed). Both pass on d773659 (a regression).

With the default settings (cutoff 2,700 s, delay 90 s); the late Deprovisioned (stamped 10:08, heard 10:58) names the
buyer's licence, as AWS sends it for every SaaS licence:

1. A legacy SNS buyer (customer identifier) whose registration stored their licence (``legacy_license_arn``, from
   ResolveCustomer): subscribed at 08:00, 3 calls at 09:30; unsubscribe-pending at 10:10 opens the final hour
   (cutoff 10:55, final usage out at 10:56:30, sent for "opened:10:10"). The Deprovisioned moves the opening to 10:08
   (Marketplace takes their records until 11:08): the stored 10:55 is replaced by 11:02, sent again. Back at 11:04
   (subscribe-success), 5 calls at 11:04:30 billed in 12:00 (d773659: 11:00); unsubscribe-pending at 11:05 opens the
   next final hour (until 12:05), whose cutoff cannot reach 12:00 (``latest`` 11:59): the 5 calls go out at 13:06.
2. A licence buyer registered with agmt-1 whose Created and License Updated were never heard (lost, or before the
   stack listened: no start, so "opened:"): agmt-1's Ended at 10:10, its Deprovisioned stamped 10:08 heard at 10:58
   (attack 82's first test otherwise); back under agmt-2 at 11:04, 5 calls at 11:04:30, agmt-2's Ended at 11:05.

Correct: every unit answered 200 is billed (a leave's own sent cutoff is kept when a late event opens its final hour a
few minutes earlier, however the leave is named).
"""

from __future__ import annotations

from datetime import timedelta

from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.usage.ingest import UsageRejected
from tests.unit.review23_world import (
    ACCOUNT,
    IDENTIFIER,
    LEGACY,
    LICENCE_ARN,
    World,
    assert_every_answered_unit_billed,
    hour,
    legacy_sns,
    legacy_usage,
)
from tests.unit.test_atk35_final_usage_after_the_final_hour import LeavingMarketplace, back_on_licence

SECOND = "agmt-0000000000000000000000002"


def test_a_legacy_buyers_late_deprovisioned_does_not_resend_their_final_usage_into_the_next_hour() -> None:
    world = World(product=LEGACY, marketplace=LeavingMarketplace)
    marketplace = world.marketplace
    assert isinstance(marketplace, LeavingMarketplace)
    ref = CustomerRef(LEGACY.code, customer_identifier=IDENTIFIER)
    world.customers.put(
        Customer(ref, ACCOUNT, SubscriptionState.PENDING, world.clock.now(), legacy_license_arn=LICENCE_ARN)
    )
    legacy_sns(world, "subscription_subscribe-success.txt")  # 08:00

    def taken(event_id: str, quantity: int) -> int:
        try:
            return quantity * len(world.record(legacy_usage(world, event_id, quantity)).accepted)
        except UsageRejected:
            return 0

    def state() -> SubscriptionState:
        customer = world.customers.get(ref)
        assert customer is not None
        return customer.state

    world.at(hour(9, 30))
    accepted = taken("u-0930", 3)
    # Given their unsubscribe-pending at 10:10: final usage out at 10:56:30 with the cutoff 10:55
    world.at(hour(10, 10))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    world.at(hour(10, 58))
    # and their licence's Deprovisioned, stamped 10:08, heard at 10:58: their final hour opened at 10:08
    world.send_stamped("license_deprovisioned.json", hour(10, 8))
    assert state() is SubscriptionState.ENDING
    marketplace.closes = hour(10, 8) + timedelta(hours=1)
    # and the buyer back at 11:04, using 5 calls at 11:04:30
    world.at(hour(11, 4))
    legacy_sns(world, "subscription_subscribe-success.txt")
    assert state() is SubscriptionState.ACTIVE
    marketplace.closes = None
    world.at(hour(11, 4) + timedelta(seconds=30))
    accepted += taken("u-1104", 5)
    # and leaving again at 11:05: Marketplace takes their records until 12:05
    world.at(hour(11, 5))
    legacy_sns(world, "subscription_unsubscribe-pending.txt")
    assert state() is SubscriptionState.ENDING
    marketplace.closes = hour(11, 5) + timedelta(hours=1)

    # When the hours settle
    world.at(hour(14, 10))

    # Then every call answered 200 is billed
    assert accepted == 8
    assert_every_answered_unit_billed(world, accepted)


def test_a_licence_buyer_with_no_agreement_start_heard_is_not_resent_into_the_next_hour() -> None:
    world = World(marketplace=LeavingMarketplace)
    marketplace = world.marketplace
    assert isinstance(marketplace, LeavingMarketplace)
    first = world.parties.agreement_id
    world.register_with(first)  # 08:00; agmt-1's Created and License Updated never heard
    # Given agmt-1's Ended at 10:10, heard on time: final usage out at 10:56:30 with the cutoff 10:55
    world.at(hour(10, 10))
    world.send_stamped("ended_proposer.json", hour(10, 10), agreement_id=first)
    assert world.customer().state is SubscriptionState.ENDING
    world.at(hour(10, 58))
    assert world.customer().final_usage_sent == hour(10, 55)
    # and agmt-1's Deprovisioned, stamped 10:08, heard at 10:58: the final hour opened at 10:08
    world.send_stamped("license_deprovisioned.json", hour(10, 8), agreement_id=first)
    assert world.customer().state is SubscriptionState.ENDING
    marketplace.closes = hour(10, 8) + timedelta(hours=1)
    # and the buyer back on their licence under agmt-2 at 11:04, using 5 calls at 11:04:30
    back_on_licence(world, SECOND, hour(11, 4))
    marketplace.closes = None
    world.at(hour(11, 4) + timedelta(seconds=30))
    accepted = world.units_taken("u-1104", 5)
    # and leaving agmt-2 at 11:05: Marketplace takes their records until 12:05
    world.at(hour(11, 5))
    world.send_stamped("ended_proposer.json", hour(11, 5), agreement_id=SECOND)
    assert world.customer().state is SubscriptionState.ENDING
    marketplace.closes = hour(11, 5) + timedelta(hours=1)

    # When the hours settle
    world.at(hour(14, 10))

    # Then every call answered 200 is billed
    assert accepted == 5
    assert_every_answered_unit_billed(world, accepted)
