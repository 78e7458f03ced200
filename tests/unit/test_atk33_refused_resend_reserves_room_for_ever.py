"""Attack review 33: a kept refund whose answer never came is sent again, as it was, by every run, and since 3030f07
its amount is kept off the room a new refund on the same invoice may take. Where AWS never took it and the invoice's
room has since fallen below its amount (a refund the seller made in the Marketplace Management Portal; or the state
ecf6a7b left, attack 32's: a new refund beside it took the room and AWS refused the resend), AWS refuses the resend
(VALIDATION_EXCEPTION, over maxAdjustmentAmount) on every run, an error answering a resend keeps it, and its amount is
reserved for ever: the room left is negative, every new refund on the invoice is "no invoice with anything left to
refund (yet)", and nothing of the invoice is ever refunded again, though AWS allows it.
Invariant 4 (no refundable room wasted for ever); at stake: the invoice's whole room, here 2.00 (4.00 over-billed:
eu-west-1's 3.00 refused for ever, us-east-1's 1.00 never proposed)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from functions.flush.audit import TrailResult
from operations.agreement_billing import AgreementBillingUnavailable
from tests.unit.test_adjust import HOUR
from tests.unit.test_adjust_other_regions import TwoRegions, outsiders
from tests.unit.test_atk32_resend_refused_stuck_forever import Invoiced


def test_a_resend_refused_for_want_of_room_does_not_keep_the_room_left_from_every_new_refund() -> None:
    world = TwoRegions(home=None, away=300)  # eu-west-1, 09:00: 3.00 over-billed
    world.book = invoice = Invoiced(room=Decimal("4.00"), unreachable=True)  # type: ignore[assignment]
    with pytest.raises(AgreementBillingUnavailable):
        world.adjust()  # claimed and kept, then the call never reaches AWS: nothing refunded
    invoice.room = Decimal("2.00")  # the seller refunded 2.00 of the invoice in the portal meanwhile
    later = outsiders(100, "m-later")  # us-east-1, 10:00: 1.00 over-billed on the same invoice
    world.home_trail.results.append(TrailResult(**{**later.__dict__, "hour": HOUR + timedelta(hours=1)}))
    rows: list[dict[str, Any]] = []
    for _ in range(3):
        _, rows = world.adjust(until=HOUR + timedelta(hours=1))
    refunded = sum((e.amount for e in invoice.refunded), Decimal(0))
    # the new hour's 1.00 is refunded: the refund sent again keeps no room from it. That one (3.00) is refused again
    # and kept, never freed: had AWS taken its first send, freeing it would refund its hour twice (attack 34); since
    # attack 38 it is held after that refusal, never sent again, each run naming it for `cli adjust --settle`
    assert refunded == Decimal("1.00"), ([(e.amount, e.description) for e in invoice.refunded], rows)
    (kept,) = [r for r in rows if "refused it outright" in r["outcome"]]
    assert kept["outcome"].startswith("held:")
    assert "`cli adjust --settle` asks AWS" in kept["outcome"]
