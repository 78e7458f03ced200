"""Attack 63. A buyer on agmt-1 accepts a future-dated renewal (agmt-2, accepted 09:00, starting 13:00) and registers
with its token at 09:05, as the fulfillment URL asks. At 10:00 they leave instead: the License Deprovisioned naming
agmt-1 (on time), agmt-1's Ended at 10:05 (on time), and the renewal is cancelled before it started (agmt-2's Ended at
10:05). agmt-2's events (its Created, its Ended) come late, at 12:00 (AWS's events are 0-3 hours late).

fa4529a reads agmt-2, of which nothing was heard yet, as having taken the licence when the buyer registered with it
(``takes``: 09:05), so agmt-1's Deprovisioned at 10:00 reads as the close of a left agreement rather than the buyer's
leave, and the buyer stays ``active`` past their final hour; no final-usage step runs. Usage stamped 11:30 (after the
final hour, 10:00-11:00: the buyer is gone) is answered 200, and when agmt-2's events come the leave reopens at 10:00
with its final hour's cutoff at 11:00 and the 11:30 usage goes out in the final usage: billed.

Invariant 1 (nobody billed for usage after their final hour) and 4 (no buyer who left stays meterable). Money: every
hour between the final hour and the renewal's late events is billed to a buyer who left (here 11:00-12:00).
On fa4529a^ the Deprovisioned is the buyer's leave at once: the 11:30 usage is refused (new with fa4529a)."""

from __future__ import annotations

import json
from datetime import datetime

from functions.customers.model import Customer, SubscriptionState
from functions.lifecycle.notifications import parse_notification
from functions.usage.ingest import UsageRejected
from tests.aws_corpus import eventbridge_example
from tests.unit.review23_world import ACCOUNT, World, hour

FIRST = "agmt-0000000000000000000000001"
SECOND = "agmt-0000000000000000000000002"


def send(
    world: World, example: str, at: datetime, agreement: str, renewal: str | None = None, starts: datetime | None = None
) -> None:
    parties = world.parties.with_(agreement_id=agreement, renewal_agreement_id=renewal or "agmt-unused")
    event = eventbridge_example(example, parties, at=at)
    if starts is not None:
        event["detail"]["agreement"].update(
            acceptanceTime=event["time"], startTime=starts.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    world.lifecycle.handle(parse_notification(json.dumps(event), message_id="m", sent_at=world.clock.now()))


def register(world: World, agreement: str) -> None:
    now = world.clock.now()
    stored = world.customer()
    world.customers.upsert_registration(
        Customer(world.ref, ACCOUNT, stored.state, now, agreement_id=agreement, agreement_linked_at=now), f"n{now}"
    )


def offered(world: World, event_id: str, quantity: int) -> int:
    try:
        return quantity * len(world.record(world.usage_event(event_id, quantity)).accepted)
    except UsageRejected:
        return 0


def test_a_cancelled_future_renewal_registered_keeps_a_leaving_buyer_meterable() -> None:
    world = World()
    world.subscribe()  # agmt-1 at 08:00
    world.at(hour(9, 5))
    register(world, SECOND)  # the renewal accepted at 09:00 (its Created late), registered now
    world.at(hour(9, 30))
    used = {hour(9): offered(world, "u9", 1)}
    world.at(hour(10))
    send(world, "license_deprovisioned.json", hour(10), FIRST)  # they leave: the licence deprovisioned
    world.at(hour(10, 5))
    send(world, "ended_proposer.json", hour(10, 5), FIRST)
    world.at(hour(10, 30))
    used[hour(10)] = offered(world, "u10", 2)  # within the final hour: theirs
    world.at(hour(11, 30))
    gap = offered(world, "gap", 7)  # after the final hour (10:00-11:00): they are gone
    state_in_gap = world.customer().state
    world.at(hour(12))
    # agmt-2's events, late: created at 09:00 to start at 13:00, cancelled at 10:05 before it started
    send(world, "created_proposer_renew.json", hour(9), FIRST, renewal=SECOND, starts=hour(13))
    send(world, "ended_proposer.json", hour(10, 5), SECOND)
    world.at(hour(15, 10))
    assert world.customer().state is SubscriptionState.ENDED
    assert gap == 0, f"usage after the final hour answered 200 ({state_in_gap} at 11:30)"
    assert world.billed_hours() == used, f"billed {world.billed_hours()}, used in their subscription {used}"
