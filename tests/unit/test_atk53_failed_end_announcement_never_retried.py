"""Attack 53 (crash/retry, ``Lifecycle.continue_ending``; unchanged since before 267f1c7). The final-usage step records
the buyer's end (the ENDED stamp on their primary subject) and only then publishes "Customer Ended"; publishing is done
before it is remembered so that a failure is retried (the comment in ``_announce``: "a crash in between announces
twice"). But the retry of the step's message finds the buyer already ENDED and returns at
``if times.state is SubscriptionState.ENDED: return Outcome("ended")`` without announcing: the announcement a
transient failure lost (an EventBridge PutEvents throttle, a Lambda timeout right after the stamp) is never made.

A buyer (agmt-1, 10:00) leaves at 10:10 (License Deprovisioned). At 11:10 the step stamps their end; publishing
"Customer Ended" fails once (the message is redelivered by SQS after its visibility timeout). The redelivery ends
quietly: the seller's systems are never told the buyer left, and go on serving (and, for a seller that provisions
per "Customer Ended", paying for) a customer who pays nothing; nothing else announces it unless another lifecycle
event about that buyer happens to arrive (invariant 4: a crash/retry leaves a permanent wrong state, here the seller's
view of the customer). Fails on 267f1c7 too."""

from __future__ import annotations

from datetime import timedelta

from functions.lifecycle.service import CUSTOMER_ENDED
from functions.seller_events import DomainEvent, PublishFailed, RecordingPublisher
from tests.unit.test_lifecycle_rules import Buyer, World, subscribed


class FailsOnceOnEnd(RecordingPublisher):
    """EventBridge refusing the first "Customer Ended" (a throttle): PublishFailed, as functions.eventbridge raises."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def publish(self, event: DomainEvent) -> None:
        if event.detail_type == CUSTOMER_ENDED and not self.failed:
            self.failed = True
            raise PublishFailed("PutEvents failed: ClientError")
        super().publish(event)


def test_a_failed_end_announcement_is_made_when_the_step_is_retried() -> None:
    world, buyer = World(), Buyer()
    publisher = FailsOnceOnEnd()
    world.publisher = publisher
    world.lifecycle.publisher = publisher
    subscribed(world, buyer)
    world.pass_time(10)
    world.send(buyer, "license_deprovisioned.json")  # 10:10 their leave
    deliveries = 0
    end = world.clock.now() + timedelta(hours=3)
    while world.timers.scheduled and world.clock.now() < end:
        ref, delay = world.timers.scheduled.pop(0)
        world.clock.set(world.clock.now() + timedelta(seconds=delay))
        deliveries += 1
        try:
            world.lifecycle.continue_ending(ref, lambda: False)
        except PublishFailed:
            world.timers.schedule(ref, 30)  # SQS redelivers the message after its visibility timeout
    assert publisher.failed  # the step's first announcement did fail
    assert CUSTOMER_ENDED in [e.detail_type for e in publisher.events], (
        f"after {deliveries} deliveries of the step's message, no Customer Ended was ever published"
    )
