"""Attack 38 (on 28ed377, ``DynamoRefundClaims.unsent``): a resend AWS refused outright "took nothing", so its
``sent`` is put back to the send before, and ``--settle`` counts its day from that one. But the refusal is the answer
to the last try of the call only: botocore's standard retries (kept: operations/agreement_billing.py) send the same
entry again when a try's answer is lost, and where AWS took the first try, the retry is checked against the
invoice's room that try took (AWS documents no order between the room and the token: attack 34's premise, which
``_send`` names) and refused: VALIDATION_EXCEPTION. ``unsent`` then wipes a send AWS took a minute ago: ``sent`` is a
day old again, and a ``--settle`` run straight after (the row asks for it) finds AWS's list without it yet (AWS
states no delay; a8c82ff's premise, attack 37's lagging list) and keeps the refund void. The next ``adjust --send``
refunds its hour again, capped at the room left. Before 28ed377 ``sent`` stayed at that send: "not known" until a day
after it, by when AWS lists it.

In-memory fakes of our interfaces. 09:00 over-billed 3.00; the invoice allows 4.00. 3.00 is due back; 4.00 is
refunded."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from operations.agreement_billing import BillingAdjustment, Invoice, RefundEntry, RefundOutcome
from tests.unit.test_adjust import HOUR, SETTLED
from tests.unit.test_adjust_other_regions import TwoRegions
from tests.unit.test_atk37_settle_forgets_a_refund_whose_claims_a_run_wrote_after_its_sent import clock_of
from tests.unit.test_atk37_settle_forgets_the_claims_of_a_legacy_refund_a_run_sent_meanwhile import settle


@dataclass
class RoomFirst:
    """AWS's Agreement Service: while ``down`` every entry fails (INTERNAL_FAILURE, nothing taken); else an entry over
    the room left is refused before its token is looked up (VALIDATION_EXCEPTION), and a token taken answers its
    adjustment again. ``retried``: the next call's first try is taken and its answer lost, and botocore sends it again
    (that try's answer is the call's). ``lagging``: its list does not show yet what it takes meanwhile."""

    room: Decimal = Decimal("4.00")
    down: bool = True
    retried: bool = False
    lagging: bool = False
    taken: dict[str, tuple[str, RefundEntry]] = field(default_factory=dict)
    unlisted: set[str] = field(default_factory=set)

    def invoices(self, agreement_id: str, year: int, month: int) -> list[Invoice]:
        return [Invoice(agreement_id, "2028746221", year, month, Decimal("500"), self.room, "USD")]

    def _try(self, entries: list[RefundEntry]) -> list[RefundOutcome]:
        answers = []
        for e in entries:
            if self.down:
                answers.append(RefundOutcome(e.client_token, None, "INTERNAL_FAILURE", "down"))
            elif e.amount > self.room:
                answers.append(RefundOutcome(e.client_token, None, "VALIDATION_EXCEPTION", "over maxAdjustmentAmount"))
            else:
                if e.client_token not in self.taken:
                    self.room -= e.amount
                    self.taken[e.client_token] = (f"ba-{len(self.taken)}", e)
                    if self.lagging:
                        self.unlisted.add(self.taken[e.client_token][0])
                answers.append(RefundOutcome(e.client_token, self.taken[e.client_token][0]))
        return answers

    def refund(self, entries: list[RefundEntry]) -> list[RefundOutcome]:
        if self.retried:
            self.retried = False
            self._try(entries)  # taken; its answer lost on the way back
        return self._try(entries)

    def adjustments_like(self, entry: RefundEntry) -> list[BillingAdjustment]:
        return [
            BillingAdjustment(request_id, e.invoice_id, e.amount, e.currency, "COMPLETED", e.description, SETTLED)
            for request_id, e in self.taken.values()
            if (e.invoice_id, e.amount, e.currency) == (entry.invoice_id, entry.amount, entry.currency)
            and request_id not in self.unlisted
        ]

    def adjustment(self, agreement_id: str, request_id: str) -> BillingAdjustment:
        """GetBillingAdjustmentRequest: this AWS fails no refund it took."""
        return BillingAdjustment(request_id, "2028746221", Decimal(0), "USD", "COMPLETED", None, SETTLED)

    def taken_amount(self) -> Decimal:
        return sum((e.amount for _, e in self.taken.values()), Decimal(0))


def test_a_resend_whose_first_try_aws_took_is_not_voided_by_its_retrys_refusal() -> None:
    world = TwoRegions(home=300, away=None)  # 09:00: 3.00 over-billed
    world.book = aws = RoomFirst()  # type: ignore[assignment]
    code, _ = world.adjust(until=HOUR)  # AWS down: nothing taken, kept
    assert code == 1

    # a day and an hour later, sent again: its first try is taken (the room now 1.00), the retry refused
    clock = clock_of(world)
    clock.set(SETTLED + timedelta(days=1, hours=1))
    aws.down, aws.retried, aws.lagging = False, True, True
    _, rows = world.adjust(until=HOUR)
    assert any(r["outcome"].startswith("refused: VALIDATION_EXCEPTION") for r in rows), rows
    assert aws.taken_amount() == Decimal("3.00")

    clock.set(SETTLED + timedelta(days=1, hours=1, minutes=5))  # the operator settles, as the row asks
    outcomes = [r["outcome"] for r in settle(world)]
    aws.lagging = False
    aws.unlisted.clear()  # AWS lists it now
    for _ in range(2):
        world.adjust(until=HOUR)
    outcomes += [r["outcome"] for r in settle(world)]

    # 09:00 refunded once, by the send AWS took: 3.00 for 3.00 over-billed
    shown = f"{aws.taken_amount()} refunded for 3.00 over-billed; settle said {outcomes}"
    assert aws.taken_amount() == Decimal("3.00"), shown
