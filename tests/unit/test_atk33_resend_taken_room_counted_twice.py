"""Attack review 33: since 3030f07 a refund whose answer never came is sent again first in the call and its amount
is kept off the room (``maxAdjustmentAmount``) a new refund on the same invoice may take. That is right only where
AWS never took it. Where the answer alone was lost (AWS took the refund, the connection dropped before its answer),
the invoice's ``maxAdjustmentAmount`` as read already has it off, and the resend is the same refund (its token: AWS
answers it with the adjustment it made, taking nothing more). The room is then counted short by the resend's amount
twice over: the new refund is capped below what the invoice allows, its hours are claimed and answered, and what it
was cut by is never refunded by any later run ("refunded before").
Invariant 4 (no refundable room wasted for ever); at stake: the new refund's shortfall, here 1.00 of the us-east-1
hour's 2.00 over-billed (5.00 over-billed, 7.00 the invoice allowed, 4.00 refunded however many runs)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from functions.flush.audit import TrailResult
from operations.agreement_billing import AgreementBillingUnavailable, RefundEntry, RefundOutcome
from tests.unit.test_adjust import HOUR
from tests.unit.test_adjust_other_regions import TwoRegions, outsiders
from tests.unit.test_atk32_resend_refused_stuck_forever import Invoiced


class AnswerLost(Invoiced):
    """AWS takes the next call's refunds, and its answer never reaches us (a read timeout)."""

    answer_lost: bool = True

    def refund(self, entries: list[RefundEntry]) -> list[RefundOutcome]:
        answers = super().refund(entries)
        if self.answer_lost:
            self.answer_lost = False
            raise AgreementBillingUnavailable("ReadTimeoutError")
        return answers


def test_a_resend_aws_took_before_is_not_kept_off_the_room_a_second_time() -> None:
    world = TwoRegions(home=None, away=300)  # eu-west-1, 09:00: 3.00 over-billed
    world.book = invoice = AnswerLost(room=Decimal("7.00"))  # type: ignore[assignment]
    with pytest.raises(AgreementBillingUnavailable):
        world.adjust()  # AWS took the 3.00 (its room now 4.00); the answer was lost
    assert ([e.amount for e in invoice.refunded], invoice.room) == ([Decimal("3.00")], Decimal("4.00"))
    later = outsiders(200, "m-later")  # us-east-1, 10:00: 2.00 over-billed on the same invoice
    world.home_trail.results.append(TrailResult(**{**later.__dict__, "hour": HOUR + timedelta(hours=1)}))
    rows: list[dict[str, Any]] = []
    for _ in range(3):  # the operator runs it again, as the outcome says
        _, rows = world.adjust(until=HOUR + timedelta(hours=1))
    refunded = sum((e.amount for e in invoice.refunded), Decimal(0))
    # 5.00 over-billed, 7.00 the invoice allowed: all of it refunded, the 3.00 once
    assert refunded == Decimal("5.00"), ([(e.amount, e.description) for e in invoice.refunded], rows)
