"""Attack 36 (on 6a17b09, ``cli adjust --settle``): a held refund AWS took is told "never taken" and its hours freed
when AWS's ``createdAt`` of it reads more than ``CLOCK_SKEW`` (15 minutes) before the ``at`` we kept it under, so
the next ``adjust --send`` refunds its hours a second time.

``settle`` asks ListBillingAdjustmentRequests only for adjustments created after ``at - 15 minutes``
(``operations/refund_settlement.py``, ``since``). ``at`` is read from the operator's clock, ``createdAt`` from AWS's:
an operator's machine 20 minutes fast (or AWS's clock behind it) puts AWS's adjustment outside that window. AWS lists
nothing, a day later the refund is "never taken", and a held one's hours are freed although AWS refunded them. The
refund's description names its client token, so no window is needed to tell it from another refund; the window only
adds a way to miss it. (``at`` can also trail AWS's ``createdAt`` without any skew: versions c1bc76e..731b752 rewrote
``at`` every time they sent an unanswered refund again, and a run that worked a refund out before another run kept it
rewrites it when it keeps it.)

Against DynamoDB Local and the Marketplace emulator, from review 29's held refund: 10:00 and 11:00 over-billed
(17.00), 11:00 refunded (7.00) by a refund kept under its former key, and a second refund of both (17.00) kept,
held. Here AWS took that second one (24.00 refunded: 11:00 twice, what the held rule exists for), its answer lost."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from operations.refund_claims import DynamoRefundClaims
from operations.refund_settlement import SETTLE_AFTER
from tests.integration.test_review29_held_refund_sent_from_a_narrower_window import a_held_refund, refunded

SKEW = timedelta(minutes=20)  # the operator's clock ahead of AWS's


def test_a_held_refund_aws_took_while_its_clock_read_20_minutes_behind_ours_is_not_freed(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world = a_held_refund(settings, marketplace, dynamodb)
    (held,) = DynamoRefundClaims(world.dynamodb, world.settings.metering_table).unanswered()
    assert held.at is not None
    assert held.entry.amount == Decimal("17.00")

    # it was sent just after it was kept; AWS's clock read 20 minutes behind ours; AWS took it, its answer was lost
    world.marketplace.admin.set_clock((held.at - SKEW).isoformat().replace("+00:00", "Z"))
    world.target().billing().refund([held.entry])
    assert refunded(world) == Decimal("24.00")  # 11:00 refunded twice already: nothing more may be

    world.move_to(held.at + SETTLE_AFTER + timedelta(hours=1))
    status, out, err = world.cli("adjust", "--settle", "--send")
    assert status in (0, 1), err
    world.adjust_send("2026-11-26T10:00Z", "2026-11-26T11:00Z")

    # AWS refunded 10:00 and 11:00 in the held refund: settling it frees nothing, and 10:00 is not refunded again
    assert refunded(world) == Decimal("24.00"), f"{refunded(world)} refunded for 17.00 over-billed; settle said {out}"
