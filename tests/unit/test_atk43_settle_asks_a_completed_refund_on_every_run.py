"""Attack 43 (on 4afca33): ``adjust --settle`` asks AWS (GetBillingAdjustmentRequest) of every answered refund no
Completed or Failed event was kept of, on every run. A refund AWS says is COMPLETED refunded what it asked, for good
(the model's statuses: PENDING, then VALIDATION_FAILED or COMPLETED), yet nothing is kept of it, so it is asked again
on every settle run, for ever: every refund answered before the stack listened to Billing Adjustment events, and every
one whose Completed event was lost, one call each per run, a number that only grows. The billing client retries
nothing (``target._REFUNDS``) and the first call AWS throttles stops the run (attack 43's other test): the more
refunds a seller has made, the likelier settle never finishes.

In-memory fakes of our interfaces: 09:00 over-billed by 300 units (3.00), 10:00 by 150 (1.50), refunded apart, both
completed by AWS, neither Completed event kept."""

from __future__ import annotations

from decimal import Decimal

from tests.unit.test_atk43_settle_one_unknown_adjustment_blocks_every_failed_refund import (
    settle_run,
    two_answered_refunds,
    world_of_two_hours,
)


def test_a_refund_aws_completed_is_asked_of_once_not_on_every_settle_run() -> None:
    world, aws = world_of_two_hours()
    refunds = two_answered_refunds(world, aws)  # AWS completes both; their events never come

    for _ in range(5):  # settle as the operator runs it, daily
        code, rows, stopped = settle_run(world)
        assert (code, rows, stopped) == (0, [], "")  # nothing to tell: both refunded what they asked

    # each completed refund asked of once: its outcome is final once AWS says it
    assert sorted(aws.asked_of) == sorted(refunds), f"{len(aws.asked_of)} calls for 2 refunds: {aws.asked_of}"
    world.adjust()
    assert sum((e.amount for e in aws.refunded), Decimal(0)) == Decimal("4.50")  # and nothing refunded again
