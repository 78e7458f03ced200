"""``cli adjust --settle``: a refund AWS answered, then failed (``VALIDATION_FAILED``), whose Purchase Agreement Billing
Adjustment Failed event was never kept (lost past the queue's retention, sent before the stack listened) held its hours
for ever: the next ``adjust`` took them as refunded. Settle asks AWS of every answered refund no outcome event was kept
of, keeps a failed one as its Failed event would have been kept, and the next ``adjust`` refunds its hours again.

In-memory fakes of our interfaces: 09:00 over-billed by 300 units (3.00)."""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from operations.adjust_cli import run_settle
from operations.agreement_billing import BillingAdjustment, RefundEntry, RefundOutcome
from tests.fakes import InMemoryCustomers
from tests.unit.test_adjust import SETTLED, Book
from tests.unit.test_adjust_other_regions import TwoRegions


@dataclass
class FailsQuietly(Book):
    """AWS's Agreement Service: it fails the refunds of ``failed`` after taking them, and says so only when asked."""

    failed: set[str] = field(default_factory=set)
    asked_of: list[str] = field(default_factory=list)

    def refund(self, entries: list[RefundEntry]) -> list[RefundOutcome]:
        self.refunded += entries
        return [
            RefundOutcome(e.client_token, f"ba-{len(self.refunded) - len(entries) + i}") for i, e in enumerate(entries)
        ]

    def adjustment(self, agreement_id: str, request_id: str) -> BillingAdjustment:
        self.asked_of.append(request_id)
        status = "VALIDATION_FAILED" if request_id in self.failed else "COMPLETED"
        return BillingAdjustment(request_id, "2028746221", Decimal("3.00"), "USD", status, None, SETTLED)


def settle(world: TwoRegions, *, send: bool = True) -> tuple[int, list[dict[str, Any]]]:
    out = io.StringIO()
    code = run_settle(argparse.Namespace(send=send, json=True), world.target, out, lambda rows, columns: "")
    return code, list(json.loads(out.getvalue())["refunds"])


def test_a_refund_aws_failed_without_its_event_is_kept_failed_and_its_hours_refunded_again() -> None:
    world = TwoRegions(home=300, away=None)
    customers = world.home.customers
    assert isinstance(customers, InMemoryCustomers)
    world.home = replace(world.home, notices=customers)  # the Failed events the lifecycle kept
    world.target = replace(world.target, deps=world.home, keep_notice=customers.lifecycle_store.record_notice)
    world.book = aws = FailsQuietly()
    assert world.adjust()[0] == 0
    (first,) = aws.refunded
    aws.failed.add("ba-0")  # AWS fails it; its Failed event never comes
    world.adjust()
    assert len(aws.refunded) == 1  # its hours taken as refunded: 3.00 over-billed, nothing refunded

    code, rows = settle(world, send=False)  # a dry run says so, and keeps nothing
    assert (code, [r["client_token"] for r in rows]) == (0, [first.client_token])
    assert rows[0]["outcome"].endswith("dry run: --send keeps it failed")
    world.adjust()
    assert len(aws.refunded) == 1

    code, rows = settle(world)
    assert code == 0
    assert rows[0]["outcome"] == (
        "AWS failed it: ba-0, VALIDATION_FAILED, no Failed event of it kept; kept as failed: the next adjust asks for "
        "its hours again"
    )
    world.adjust()  # 09:00 asked for again under a token of its own: 3.00 refunded once
    assert [(e.amount, e.client_token != first.client_token) for e in aws.refunded[1:]] == [(Decimal("3.00"), True)]
    world.adjust()
    assert len(aws.refunded) == 2

    asked = len(aws.asked_of)
    assert settle(world) == (0, [])  # kept failed: AWS is not asked of it again
    assert aws.asked_of[asked:] == ["ba-1"]  # only the new refund, whose outcome no event brought yet
