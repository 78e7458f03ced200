"""Attack 39 (on f0e18c3): a first send AWS refuses outright is released (``DynamoRefundClaims.release``: the kept
refund first, then its claims), while another adjust run that read the refund kept, unanswered, sends it again
(``claim``: the refund kept again, then its claims). Two runs at once is what attack 34 already arranges (an operator's
run beside the scheduled one), and no run is stopped here. Interleaved as: the resend keeps the refund again (it is
there, unanswered), the release deletes it and the claim of 09:00, the resend claims 09:00 (no claim: allowed). Its
send is refused outright too (the room is as it was), and ``refused`` finds no refund to mark. What is left: 09:00
claimed by the token, no refund kept under it. No settle sees it (none is unanswered), and every adjust leaves 09:00
out as "refunded before" by that token, for ever: the end state of the known "release stopped between its two
deletes", reached by two runs that both finish.

In-memory fakes of our interfaces (InMemoryRefundClaims's ``step``, called around each item's write, plays the other
run's turn). 09:00 over-billed 3.00; the invoice showed 4.00 left, but the seller refunded 3.50 of it by hand in the
console meanwhile: 0.50 left, so the first send (3.00) is refused. 0.50 of it is due back (capped at the room left);
nothing is ever refunded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from operations.agreement_billing import BillingAdjustment, Invoice, RefundEntry, RefundOutcome
from operations.refund_claims import AskedRefund
from tests.fakes import InMemoryRefundClaims
from tests.unit.test_adjust import HOUR, SETTLED
from tests.unit.test_adjust_other_regions import TwoRegions
from tests.unit.test_atk37_settle_forgets_a_refund_whose_claims_a_run_wrote_after_its_sent import clock_of
from tests.unit.test_atk37_settle_forgets_the_claims_of_a_legacy_refund_a_run_sent_meanwhile import settle


@dataclass
class HandRefunded:
    """The invoice: ``shown`` left to refund as read by the first run, ``room`` as AWS has it (the seller's console
    refund took the rest): an entry over it is refused outright (VALIDATION_EXCEPTION), one within it taken."""

    room: Decimal = Decimal("0.50")
    shown: Decimal | None = Decimal("4.00")
    refunded: list[RefundEntry] = field(default_factory=list)

    def invoices(self, agreement_id: str, year: int, month: int) -> list[Invoice]:
        left = self.room if self.shown is None else self.shown
        return [Invoice(agreement_id, "2028746221", year, month, Decimal("500"), left, "USD")]

    def refund(self, entries: list[RefundEntry]) -> list[RefundOutcome]:
        answers = []
        for e in entries:
            if e.amount > self.room:
                answers.append(RefundOutcome(e.client_token, None, "VALIDATION_EXCEPTION", "over maxAdjustmentAmount"))
            else:
                self.room -= e.amount
                self.refunded.append(e)
                answers.append(RefundOutcome(e.client_token, f"ba-{len(self.refunded)}"))
        return answers

    def adjustment(self, agreement_id: str, request_id: str) -> BillingAdjustment:
        """GetBillingAdjustmentRequest: this AWS fails no refund it took."""
        return BillingAdjustment(request_id, "2028746221", Decimal(0), "USD", "COMPLETED", None, SETTLED)


class ReleasedBeside(InMemoryRefundClaims):
    """Our claims as the first run uses them: as it frees its refund (a release until the fix, keeping it void since),
    the other run (``world.adjust``) sends it again, its refund kept again just before the first run's write and its
    claim of 09:00 written just after."""

    def __init__(self) -> None:
        super().__init__(step=self._step)
        self.other_run: Callable[[], None] | None = None
        self.void_now: tuple[AskedRefund, datetime] | None = None
        self.voided: list[bool] = []

    def _step(self, operation: str, phase: str) -> None:
        if self.void_now is not None and operation == "put_item" and phase == "after":
            asked, at = self.void_now
            self.void_now = None
            self.voided.append(super().void(asked, at))  # the first run's write, between the resend's two writes

    def void(self, asked: AskedRefund, at: datetime) -> bool:
        run, self.other_run = self.other_run, None
        if run is None:
            return super().void(asked, at)
        self.void_now = (asked, at)
        run()
        return self.voided[-1]


def test_a_refused_first_send_released_beside_a_resend_leaves_its_hour_refundable() -> None:
    world = TwoRegions(home=300, away=None)  # 09:00: 3.00 over-billed
    world.book = aws = HandRefunded()  # type: ignore[assignment]
    world.claims = claims = ReleasedBeside()
    other: list[list[dict[str, object]]] = []
    claims.other_run = lambda: other.append(world.adjust(until=HOUR)[1])
    _, rows = world.adjust(until=HOUR)
    assert any(r["outcome"].startswith("refused: VALIDATION_EXCEPTION") for r in rows), rows
    assert other, "the other run did not send"
    assert any(str(r["outcome"]).startswith("refused: VALIDATION_EXCEPTION") for r in other[0]), other
    assert aws.refunded == []

    # AWS's invoice shows the room left from now on; the operator settles and adjusts daily, as told
    aws.shown = None
    clock = clock_of(world)
    outcomes: list[str] = []
    for day in (1, 2, 3):
        clock.set(SETTLED + timedelta(days=day, hours=1))
        outcomes += [r["outcome"] for r in settle(world)]
        _, rows = world.adjust(until=HOUR)
        outcomes += [r["outcome"] for r in rows]

    # 09:00's 3.00, capped at the 0.50 the invoice has left
    refunded = sum((e.amount for e in aws.refunded), Decimal(0))
    assert refunded == Decimal("0.50"), f"{refunded} refunded; claims {claims.claims}; said {outcomes}"
