"""Attack 51 (on 1a200c4, ``_closes_a_left_agreement`` reading only the licence's *latest* ending). 1a200c4 states
that a License Deprovisioned naming the buyer's newest agreement "is their leave, in either of AWS's orders", and one
naming an agreement they took another after is that agreement's close. But ``buyer_times`` asks the question of one
Deprovisioned only: ``licence.ending``, the latest the licence saw. A left agreement's close that comes *after* the
buyer's leave of the newest agreement hides that leave.

The buyer (agmt-1, 10:00) leaves in the seller guide's order: agmt-1's Purchase Agreement Ended at 11:00 opens a final
hour, agmt-1's License Deprovisioned will close it about an hour later. At 11:10 they come back on the same licence
under agmt-2 (Created, License Updated) and at 11:30 leave agmt-2 in AWS's 2026 order: its License Deprovisioned (naming
agmt-2) comes first. 1a200c4 reads it right: ENDING since 11:30, cutoff 12:15. At 12:00 agmt-1's own Deprovisioned
(naming agmt-1, its close) arrives: it is now the licence's latest ending, it names an agreement the buyer took another
after, so it "closes a left agreement" and no Deprovisioned opens anything. agmt-2's Ended has not come, so the buyer
reads ACTIVE again: the 12:15 final-usage timer finds them "reactivated" and ends nothing, their usage is taken after
Marketplace closed their licence at 11:30 (its final hour over at 12:30: what we send after is refused, money lost or
billed to a buyer with no licence), and no end is announced. When agmt-2's Ended comes (here at 12:05), their final hour
is read as opening then, 35 minutes after their real leave: cutoff 12:50 instead of 12:15, end 13:05 instead of
12:30 (invariants 2 and 3: a left buyer read active; the hour opened at the wrong event). Times alone (before
1a200c4) misread it too; 1a200c4 keeps which agreement each Deprovisioned named but reads only the latest."""

from __future__ import annotations

from functions.customers.model import SubscriptionState
from tests.unit.test_lifecycle_rules import T0, Buyer, World, subscribed

SECOND = "agmt-0000000000000000000000002"


def test_the_left_agreements_later_close_does_not_hide_the_leave_of_the_newest() -> None:
    world, buyer = World(), Buyer()
    subscribed(world, buyer)  # agmt-1 at 10:00
    first = buyer.parties.agreement_id
    world.pass_time(60)
    world.send(buyer, "ended_proposer.json")  # 11:00 agmt-1's Ended: the seller guide's order, its close to come
    world.pass_time(10)
    world.send(buyer, "created_proposer_new.json", agreement_id=SECOND)  # 11:10 back, under agmt-2
    world.send(buyer, "license_updated.json", agreement_id=SECOND)
    assert world.state(buyer) is SubscriptionState.ACTIVE
    world.pass_time(20)
    left = world.clock.now()
    world.send(buyer, "license_deprovisioned.json", agreement_id=SECOND)  # 11:30 their leave of agmt-2, first
    assert world.state(buyer) is SubscriptionState.ENDING  # 1a200c4 reads this one right
    world.pass_time(30)
    world.send(buyer, "license_deprovisioned.json", agreement_id=first)  # 12:00 agmt-1's close, an hour after its Ended
    customer = world.customers.get(buyer.ref)
    assert customer is not None
    # still leaving since 11:30: agmt-1's close names an agreement they left, not agmt-2, which they left at 11:30
    assert (customer.state, customer.state_changed_at) == (SubscriptionState.ENDING, left), (
        f"read {customer.state} since {customer.state_changed_at:%H:%M} after agmt-1's close (left agmt-2 at 11:30)"
    )
    assert customer.final_usage_cutoff == T0.replace(hour=12, minute=15)
