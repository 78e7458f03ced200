"""Attack review 32: a refund whose answer never came (here: the call never reached AWS) is sent again "as it was" by
the next run, in the same BatchCreateBillingAdjustmentRequest as that run's new refunds. Each new refund is capped at
the invoice's ``maxAdjustmentAmount`` as read, which does not count the resend beside it: the two on one invoice ask
for more than it allows, AWS takes the first and refuses the resend (VALIDATION_EXCEPTION, over maxAdjustmentAmount).
Since ecf6a7b an error answering a resend keeps its claims "sent again as it was by the next run" — and every next run
sends it again, as it was (its amount above what is left), refused again, for ever: its hours are never refunded,
not even what the invoice still allows, and no run says they never will be (the outcome promises the next run).
Before ecf6a7b the refusal freed the hours and the next run refunded them capped at what was left.
Invariant 4 (an hour that can be refunded eventually is); at stake: what is left on the invoice, here 2.00 of the
eu-west-1 hour's 3.00 over-billed (4.00 refundable of 5.00 over-billed, 2.00 refunded, however many runs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from functions.flush.audit import TrailResult
from operations.agreement_billing import AgreementBillingUnavailable, Invoice, RefundEntry, RefundOutcome
from tests.unit.test_adjust import HOUR
from tests.unit.test_adjust_other_regions import TwoRegions, outsiders


@dataclass
class Invoiced:
    """The agreement's invoice as AWS keeps it: ``room`` left to refund, lowered by each refund taken; a token taken
    answers the same adjustment again (the emulator's idempotency); an entry over what is left is refused
    (VALIDATION_EXCEPTION, as the emulator does); ``unreachable``: the next call never reaches AWS."""

    room: Decimal
    unreachable: bool = False
    refunded: list[RefundEntry] = field(default_factory=list)

    def invoices(self, agreement_id: str, year: int, month: int) -> list[Invoice]:
        return [Invoice(agreement_id, "2028746221", year, month, Decimal("500"), self.room, "USD")]

    def refund(self, entries: list[RefundEntry]) -> list[RefundOutcome]:
        if self.unreachable:
            self.unreachable = False
            raise AgreementBillingUnavailable("EndpointConnectionError")
        answers = []
        for entry in entries:
            taken = [i for i, e in enumerate(self.refunded) if e.client_token == entry.client_token]
            if taken:
                answers.append(RefundOutcome(entry.client_token, f"ba-{taken[0]}"))
            elif entry.amount > self.room:
                answers.append(
                    RefundOutcome(entry.client_token, None, "VALIDATION_EXCEPTION", "over maxAdjustmentAmount")
                )
            else:
                self.room -= entry.amount
                self.refunded.append(entry)
                answers.append(RefundOutcome(entry.client_token, f"ba-{len(self.refunded) - 1}"))
        return answers


def test_a_resend_refused_for_want_of_room_is_never_stuck_with_room_left() -> None:
    world = TwoRegions(home=None, away=300)  # eu-west-1, 09:00: 3.00 over-billed
    world.book = invoice = Invoiced(room=Decimal("4.00"), unreachable=True)  # type: ignore[assignment]
    with pytest.raises(AgreementBillingUnavailable):
        world.adjust()  # claimed and kept, then the call never reaches AWS: nothing refunded
    assert invoice.refunded == []
    later = outsiders(200, "m-later")  # us-east-1, 10:00: 2.00 over-billed on the same invoice
    world.home_trail.results.append(TrailResult(**{**later.__dict__, "hour": HOUR + timedelta(hours=1)}))
    rows: list[dict[str, Any]] = []
    for _ in range(4):  # the operator runs it again, as every outcome says
        _, rows = world.adjust(until=HOUR + timedelta(hours=1))
    refunded = sum((e.amount for e in invoice.refunded), Decimal(0))
    # 5.00 over-billed, 4.00 the invoice allowed: all of it refundable, and refunded by now
    assert refunded == Decimal("4.00"), ([(e.amount, e.description) for e in invoice.refunded], rows)
