"""Attack review 34: since 731b752 a refund sent again (its first send's answer never came) that AWS answers
``VALIDATION_EXCEPTION`` is released (REFUSED_AGAIN): its claims and the kept refund are deleted and its hours are
free to be refunded anew under another token. The reasoning is that AWS would have answered a token it took with the
same adjustment. AWS documents no such thing: the model says only "Each entry requires a unique clientToken for
idempotency", with no lifetime for a token and nothing on whether an entry is checked against the invoice's
``maxAdjustmentAmount`` before its token is looked up. Where AWS took the first send (only its answer was lost),
``maxAdjustmentAmount`` already has the refund off; if the resend is checked against that room first (or its token
has expired), it is over what is left: VALIDATION_EXCEPTION. The release then frees hours AWS has refunded, and the
next run refunds them again, capped at what is left on the invoice.
Invariants 1 and 3; at stake: the hour refunded again up to the invoice's room left, here 1.00 more (2.00 over-billed
in eu-west-1 at 09:00, 3.00 refunded)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from operations.agreement_billing import AgreementBillingUnavailable, RefundEntry, RefundOutcome
from tests.unit.test_adjust_other_regions import TwoRegions
from tests.unit.test_atk32_resend_refused_stuck_forever import Invoiced


@dataclass
class RoomFirst(Invoiced):
    """The invoice as AWS may keep it: an entry over ``maxAdjustmentAmount`` is refused before its token is looked up
    (as it would be once the token expired); its answer to the next call is lost after it took the call's refunds."""

    answer_lost: bool = False

    def refund(self, entries: list[RefundEntry]) -> list[RefundOutcome]:
        answers = []
        for entry in entries:
            taken = [i for i, e in enumerate(self.refunded) if e.client_token == entry.client_token]
            if entry.amount > self.room:
                answers.append(
                    RefundOutcome(entry.client_token, None, "VALIDATION_EXCEPTION", "over maxAdjustmentAmount")
                )
            elif taken:
                answers.append(RefundOutcome(entry.client_token, f"ba-{taken[0]}"))
            else:
                self.room -= entry.amount
                self.refunded.append(entry)
                answers.append(RefundOutcome(entry.client_token, f"ba-{len(self.refunded) - 1}"))
        if self.answer_lost:
            self.answer_lost = False
            raise AgreementBillingUnavailable("ReadTimeoutError")
        return answers


def test_a_resend_refused_for_want_of_the_room_its_first_send_took_never_frees_its_hours() -> None:
    world = TwoRegions(home=None, away=200)  # eu-west-1, 09:00: 2.00 over-billed
    world.book = invoice = RoomFirst(room=Decimal("3.00"), answer_lost=True)  # type: ignore[assignment]
    with pytest.raises(AgreementBillingUnavailable):
        world.adjust()  # AWS takes the 2.00 (room now 1.00); its answer is lost
    assert ([e.amount for e in invoice.refunded], invoice.room) == ([Decimal("2.00")], Decimal("1.00"))
    rows: list[dict[str, Any]] = []
    for _ in range(3):  # sent again: 2.00 over the 1.00 left, VALIDATION_EXCEPTION; the operator runs it again
        _, rows = world.adjust()
    refunded = sum((e.amount for e in invoice.refunded), Decimal(0))
    # AWS over-billed 2.00: never more refunded than that, however many runs
    assert refunded == Decimal("2.00"), ([(e.amount, e.client_token) for e in invoice.refunded], rows)
