"""Attack 50: a cutoff already used to send a buyer's final usage (Marketplace closed their hour: a License
Deprovisioned after the Ended that opened it) is moved 45 minutes later when a late License Updated stamped between
the two turns the buyer back to ``ending``; usage answered 200 until then is refused by Marketplace.

4346e4f keeps a stored cutoff only if ``own_from <= stored <= cutoff``, ``own_from`` being the *planned* cutoff
while the buyer reads ``ending``. Before it, the lower bound was the ending's start, so the cutoff ``now`` that the
ended buyer got (and their final usage was sent with) was kept when the state was recomputed. With the defaults
(cutoff 2,700 s, delay 90 s): the buyer's agreement ends at 10:30 (Purchase Agreement Ended: final hour opens), the
licence is deprovisioned at 10:40 (the seller guide's order: Marketplace closes the hour; the buyer is ``ended``,
cutoff 10:40, final usage sent at 10:41:30, ``final_usage_sent`` 10:40). A License Updated stamped 10:35 arrives
late, at 10:45 (it failed and came back). The activation makes the 10:30 Ended an older subscription's, so the
Deprovisioned now opens the final hour: ``ending`` since 10:40, planned cutoff 11:25. The stored 10:40 is before
``own_from`` (11:25) and is replaced by 11:25: a used cutoff moved later. Ingest then answers 200 to 7 calls at 11:05
(billed in hour 11:00, after the hour already sent); the 11:26:30 final usage sends them to a Marketplace that closed
the buyer's hour at 10:40: CustomerNotSubscribed. 7 units lost.

Correct: a cutoff once used to send the final usage is never moved later (usage after it is refused, 4xx), or every
unit answered 200 is billed."""

from __future__ import annotations

import json

from functions.customers.model import SubscriptionState
from functions.lifecycle.notifications import parse_notification
from functions.usage.ingest import UsageRejected
from tests.aws_corpus import eventbridge_example
from tests.unit.review23_world import LICENCE_ARN, World, hour
from tests.unit.test_atk35_final_usage_after_the_final_hour import LeavingMarketplace


def test_a_late_licence_update_never_moves_a_used_cutoff_later() -> None:
    world = World(marketplace=LeavingMarketplace)
    marketplace = world.marketplace
    assert isinstance(marketplace, LeavingMarketplace)
    world.subscribe()  # 08:00

    # the agreement ends at 10:30, the licence is deprovisioned at 10:40: Marketplace closes the buyer's hour
    world.at(hour(10, 30))
    world.send("ended_proposer.json")
    world.at(hour(10, 40))
    world.send("license_deprovisioned.json")
    marketplace.closes = hour(10, 40)
    assert world.customer().state is SubscriptionState.ENDED
    world.at(hour(10, 45))
    assert world.customer().final_usage_sent == hour(10, 40)  # sent with the cutoff 10:40

    # a License Updated stamped 10:35 arrives late, at 10:45
    update = eventbridge_example("license_updated.json", world.parties, at=hour(10, 35))
    world.lifecycle.handle(parse_notification(json.dumps(update), message_id="m-late", sent_at=hour(10, 35)))
    moved = world.customer().final_usage_cutoff

    # 7 calls at 11:05
    world.at(hour(11, 5))
    try:
        answered = 7 * len(world.record(world.usage_event("u-1105", 7)).accepted)
    except UsageRejected:
        answered = 0  # refused (4xx): nothing promised
    world.at(hour(13, 10))

    refused = sum(int(r.quantity) for r in marketplace.refused)
    assert marketplace.units(LICENCE_ARN) == answered, (
        f"answered 200 for {answered} units, billed {marketplace.units(LICENCE_ARN)}; {refused} refused "
        f"CustomerNotSubscribed (the used cutoff 10:40 moved to {moved:%H:%M:%S} by a late License Updated)"
    )
