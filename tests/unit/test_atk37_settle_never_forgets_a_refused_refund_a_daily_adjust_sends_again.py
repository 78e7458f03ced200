"""Attack 37 (on 937d5a4, ``cli adjust --settle``): attack 36's refund AWS never took and refuses when sent again (its
invoice's room since taken by a refund by hand) is forgotten only "a day after it was last sent", and every
``adjust --send`` sends it again (a resend's refusal frees nothing), keeping that send's time as ``sent`` before the
call. AWS refusing the resend outright (VALIDATION_EXCEPTION: over ``maxAdjustmentAmount``) says that send took
nothing, yet it restarts the day. Where ``adjust --send`` runs more often than once a day (a scheduled job over its
default window, "7 days to 25 hours ago"; or an operator re-running it, as its exit 1 asks), no ``--settle`` run ever
finds a day since the last send: each says "not known: ... a day after it was sent, none means it never took it", for
ever, and the hours are never refunded.

In-memory fakes of our interfaces: 09:00 over-billed 3.00 on an invoice that allows 3.00; the first send never reaches
AWS; the seller refunds 0.50 by hand; then ``adjust --send`` twice a day and ``adjust --settle --send`` between them,
for five days. AWS never took the refund: 2.50 (what the invoice allows) is due back; nothing is refunded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from operations.agreement_billing import Invoice, RefundEntry, RefundOutcome
from tests.unit.test_adjust import HOUR, SETTLED
from tests.unit.test_adjust_other_regions import TwoRegions
from tests.unit.test_atk37_settle_forgets_a_refund_whose_claims_a_run_wrote_after_its_sent import clock_of
from tests.unit.test_atk37_settle_forgets_the_claims_of_a_legacy_refund_a_run_sent_meanwhile import Aws, settle


@dataclass
class Room(Aws):
    """AWS's Agreement Service whose invoice allows ``room`` more, less what it took; over it: VALIDATION_EXCEPTION."""

    room: Decimal = Decimal("3.00")

    def left(self) -> Decimal:
        return self.room - self.taken_amount()

    def invoices(self, agreement_id: str, year: int, month: int) -> list[Invoice]:
        return [Invoice(agreement_id, "2028746221", year, month, Decimal("500"), self.left(), "USD")]

    def refund(self, entries: list[RefundEntry]) -> list[RefundOutcome]:
        over = [e for e in entries if e.client_token not in self.taken and e.amount > self.left()]
        if self.down or not over:
            return super().refund(entries)
        refused = [RefundOutcome(e.client_token, None, "VALIDATION_EXCEPTION", "over the room") for e in over]
        return refused + super().refund([e for e in entries if e not in over])


def test_a_refund_aws_refuses_when_sent_again_is_forgotten_though_adjust_runs_twice_a_day() -> None:
    world = TwoRegions(home=300, away=None)  # 09:00: 3.00 over-billed
    world.book = aws = Room()
    code, _ = world.adjust(until=HOUR)  # its call never reaches AWS: kept, unanswered
    assert code == 1
    aws.room = Decimal("2.50")  # the seller refunds 0.50 of something else on that invoice by hand
    aws.down = False

    clock = clock_of(world)
    outcomes = []
    for half_day in range(10):  # five days: adjust --send at 00:00 and 12:00 after, settle at 06:00 and 18:00
        clock.set(SETTLED + timedelta(hours=12 * half_day))
        world.adjust(until=HOUR)  # sent again as it was: refused (3.00 > the 2.50 left), kept
        clock.set(SETTLED + timedelta(hours=12 * half_day + 6))
        outcomes += [r["outcome"] for r in settle(world)]

    # AWS never took it, and the invoice allows 2.50 more: refunded, once
    assert aws.taken_amount() == Decimal("2.50"), f"{aws.taken_amount()} refunded; settle said {outcomes[-1]}"
