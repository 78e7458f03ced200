"""Attack 37 (on 937d5a4, ``cli adjust --settle``): ``DynamoRefundClaims.forget`` removes a refund's claims "only where
no run claimed it since", told by the claim's ``at`` being no later than the refund's ``sent`` as settle read it. A
refund kept by a version before 937d5a4 has no ``sent``: its claims are then removed whatever their ``at``. The guard
for the refund itself (``attribute_not_exists(sent)``) does see that a run sent it meanwhile and keeps it, but its
claims are gone by then.

So: an earlier version kept a refund of 09:00 (3.00) whose sends never reached AWS (AWS down). After the upgrade an
``adjust --settle --send`` reads it (no ``sent``, kept over a day ago), and lists AWS's adjustments: none. Meanwhile
the cron's ``adjust --send`` sends it again as it was, and AWS takes it now (3.00 refunded, its answer kept). Settle
goes on: "never taken", forget: 09:00's claim is deleted (no ``sent`` to compare with), the refund is kept ("a run
sent it again meanwhile ... kept"). The refund AWS took is answered, and no claim names its hour: the next
``adjust --send`` over 09:00 and 10:00 proposes both hours under a new token and refunds 09:00 a second time.

In-memory fakes of our interfaces (``InMemoryRefundClaims`` behaves as ``DynamoRefundClaims`` here: a refund without
``sent`` has its claims deleted unconditionally in both). 09:00 (3.00) and 10:00 (1.50) over-billed: 4.50 is due
back; 7.50 is refunded."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from functions.clock import ManualClock
from functions.flush.audit import TrailResult
from operations.adjust_cli import run_settle
from operations.agreement_billing import BillingAdjustment, RefundEntry, RefundOutcome
from tests.unit.test_adjust import HOUR, SETTLED, Book
from tests.unit.test_adjust_other_regions import TwoRegions, outsiders

TEN = HOUR + timedelta(hours=1)


@dataclass
class Aws(Book):
    """AWS's Agreement Service: while ``down`` every entry fails (INTERNAL_FAILURE: nothing taken); else each client
    token is taken once (sent again, AWS answers the same adjustment). Its list of adjustments is read before
    ``meanwhile`` runs (another operator's run, between settle's read of AWS and what settle then writes)."""

    down: bool = True
    taken: dict[str, tuple[str, RefundEntry]] = field(default_factory=dict)
    meanwhile: Callable[[], object] | None = None

    def refund(self, entries: list[RefundEntry]) -> list[RefundOutcome]:
        if self.down:
            return [RefundOutcome(e.client_token, None, "INTERNAL_FAILURE", "down") for e in entries]
        for e in entries:
            self.taken.setdefault(e.client_token, (f"ba-{len(self.taken)}", e))
        return [RefundOutcome(e.client_token, self.taken[e.client_token][0]) for e in entries]

    def adjustments_like(self, entry: RefundEntry) -> list[BillingAdjustment]:
        listed = [
            BillingAdjustment(request_id, e.invoice_id, e.amount, e.currency, "COMPLETED", e.description, SETTLED)
            for request_id, e in self.taken.values()
            if (e.invoice_id, e.amount, e.currency) == (entry.invoice_id, entry.amount, entry.currency)
        ]
        run, self.meanwhile = self.meanwhile, None
        if run is not None:
            run()
        return listed

    def taken_amount(self) -> Decimal:
        return sum((e.amount for _, e in self.taken.values()), Decimal(0))


def settle(world: TwoRegions) -> list[dict[str, Any]]:
    out = io.StringIO()
    run_settle(argparse.Namespace(send=True, json=True), world.target, out, lambda rows, columns: "")
    return list(json.loads(out.getvalue())["refunds"])


def two_hours() -> tuple[TwoRegions, Aws]:
    """09:00 (3.00) and 10:00 (1.50) over-billed; AWS's Agreement Service down."""
    world = TwoRegions(home=300, away=None)
    later = outsiders(150, "m-later")
    world.home_trail.results.append(TrailResult(**{**later.__dict__, "hour": TEN}))
    world.book = aws = Aws()
    return world, aws


def test_a_legacy_refund_sent_again_while_settle_runs_keeps_its_hours_claimed() -> None:
    world, aws = two_hours()
    world.adjust(until=HOUR)  # the refund of 09:00, kept and claimed; AWS down: not taken
    (kept,) = world.claims.unanswered()
    assert aws.taken_amount() == 0
    # as a version before 937d5a4 kept it: no ``sent``
    world.claims.asked[kept.entry.client_token] = replace(kept, sent=None)

    clock = world.home.clock
    assert isinstance(clock, ManualClock)
    clock.set(SETTLED + timedelta(days=1, hours=1))  # a day after it was kept
    aws.down = False
    # settle lists AWS's adjustments (none); meanwhile the cron's adjust --send sends it again: AWS takes it
    aws.meanwhile = lambda: world.adjust(until=HOUR)
    rows = settle(world)
    assert aws.taken_amount() == Decimal("3.00"), rows

    for _ in range(2):
        world.adjust(until=TEN)

    # 09:00 refunded once (by the refund AWS took), 10:00 once: 4.50 for 4.50 over-billed
    shown = f"{aws.taken_amount()} refunded for 4.50 over-billed: {[(e.amount, t) for t, (_, e) in aws.taken.items()]}"
    assert aws.taken_amount() == Decimal("4.50"), shown
