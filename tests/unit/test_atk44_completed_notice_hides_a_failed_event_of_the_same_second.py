"""Attack 44 (on c38044c, ``adjust --settle`` keeping a refund AWS says is COMPLETED as its Completed event would
have been kept, at the run's time). A kept notice of one adjustment is replaced only by a *newer* one
(``AgreementNotice.order``: its time, then its step; ``record_notice`` keeps the first of a tie), and a billing
adjustment's ``FAILED`` is no later step than its ``COMPLETED`` (``_LATER_STEPS`` names ``VALIDATION_FAILED``, a
cancellation request's status; an adjustment's notice says ``FAILED``). So AWS's Purchase Agreement Billing Adjustment
Failed event is dropped whenever a COMPLETED notice of the same adjustment is kept at its time or later:

- settle's own COMPLETED, kept at the run's clock: AWS fails the refund in the second the run read it COMPLETED (the
  event's time has whole seconds, the run's clock more; or AWS's read lagged its failure, as the settlement's window
  allows its list to; or the operator's clock runs ahead). Before c38044c settle kept nothing of a completed refund
  and the Failed event was kept whatever its time;
- AWS's own Completed event, when the Failed follows it within its second (the emulator sends both of one adjustment:
  Completed when taken, Failed when it fails it): which is kept depends on which arrives first.

Either way the failure is hidden for good: the refund reads completed, never asked of again, and its hours (3.00
over-billed, nothing refunded) are never refunded. A refund's failure is final (the model's statuses: PENDING, then
VALIDATION_FAILED or COMPLETED; nothing follows VALIDATION_FAILED): it should outrank COMPLETED whatever the times."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from functions.customers.notices import AgreementNotice
from functions.lifecycle.notifications import parse_notification
from operations.agreement_billing import RefundEntry
from tests.fakes import InMemoryCustomers
from tests.unit.test_adjust import AGREEMENT, SETTLED
from tests.unit.test_adjust_other_regions import TwoRegions
from tests.unit.test_settle_failed_unheard import FailsQuietly, settle

EXAMPLES = Path(__file__).parents[1] / "fixtures" / "aws"


def _outcome_event(kind: str, request_id: str, at: datetime) -> AgreementNotice:
    """AWS's Purchase Agreement Billing Adjustment Completed/Failed event of the refund, as the lifecycle keeps it."""
    document = json.loads((EXAMPLES / f"billing_adjustment_{kind}_proposer.json").read_text())
    document["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    document["detail"]["agreement"]["id"] = AGREEMENT
    document["detail"]["billingAdjustmentRequest"].update(id=request_id, adjustmentAmount="-3.00")
    event = parse_notification(json.dumps(document), message_id=f"m-{kind}", sent_at=at)
    assert event.notice is not None
    return event.notice


def _world() -> tuple[TwoRegions, FailsQuietly, InMemoryCustomers, RefundEntry]:
    world = TwoRegions(home=300, away=None)  # 09:00 over-billed by 300 units: 3.00
    customers = world.home.customers
    assert isinstance(customers, InMemoryCustomers)
    world.home = replace(world.home, notices=customers)
    world.target = replace(world.target, deps=world.home, keep_notice=customers.lifecycle_store.record_notice)
    world.book = aws = FailsQuietly()
    assert world.adjust()[0] == 0
    (refund,) = aws.refunded  # answered: ba-0
    return world, aws, customers, refund


def _refunded(aws: FailsQuietly) -> Decimal:
    return sum((e.amount for e in aws.refunded), Decimal(0))


def test_a_failed_event_of_the_second_settle_read_the_refund_completed_is_kept() -> None:
    world, aws, customers, _ = _world()
    # settle reads ba-0 COMPLETED (its Completed event was lost) and keeps it so, at its clock (SETTLED)
    assert settle(world) == (0, [])
    # AWS fails it that same second: its Failed event comes, stamped with that second
    aws.failed.add("ba-0")
    customers.lifecycle_store.record_notice(_outcome_event("failed", "ba-0", SETTLED))
    assert settle(world) == (0, [])  # and no later settle asks AWS of it again: it reads completed
    world.adjust()
    assert _refunded(aws) == Decimal("6.00"), "the failure hidden by settle's COMPLETED: 3.00 never refunded"


def test_completed_then_failed_in_one_second_end_failed_in_either_arrival_order() -> None:
    kept = {}
    for order in (("completed", "failed"), ("failed", "completed")):
        world, aws, customers, _ = _world()
        aws.failed.add("ba-0")  # AWS completed it, then failed it
        for kind in order:
            customers.lifecycle_store.record_notice(_outcome_event(kind, "ba-0", SETTLED))
        world.adjust()
        kept[order] = _refunded(aws)
    assert kept == {("completed", "failed"): Decimal("6.00"), ("failed", "completed"): Decimal("6.00")}
