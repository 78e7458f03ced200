"""Attack 36 (on 6a17b09, ``cli adjust --settle``): "AWS lists none a day after it was kept" is counted from when the
refund was FIRST kept (``at``), but ``adjust --send`` sends an unanswered refund again, as it was, keeping that
``at``, any number of days later. A refund sent again a minute ago, which AWS took (its answer lost), and which has
become held since (``audit_retention_days`` lowered: one of its hours can no longer be told, so it is never sent
again), is "never taken" by a ``--settle`` run a minute later if AWS's list does not show it yet, and its hours are
freed: the next ``adjust --send`` refunds the hour that can still be told a second time.

``SETTLE_AFTER``'s own comment is the premise: "how long after a refund was first kept AWS surely lists it, had it
taken it (AWS states no delay)". AWS documents no delay, so the day has to be counted from the refund's LAST send;
counted from its first keep it may already be over when the send it is meant to cover happens.

Against DynamoDB Local and the Marketplace emulator. The emulator lists an adjustment the moment it takes it, so
AWS's list catching up an hour late is played by wrapping our own ``MarketplaceAgreementBilling.adjustments_like``
(the boto3 calls are unchanged). 1,000 units over-billed at 10:00 on 26 November and 700 at 10:00 on 28 November
(one invoice, 17.00): refunded once by the refund AWS took, 17.00; not 24.00."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from operations.agreement_billing import BillingAdjustment, RefundEntry
from operations.refund_claims import DynamoRefundClaims
from tests.integration.test_adjust import BATCH, START, refunds
from tests.integration.test_review29_held_refund_sent_from_a_narrower_window import refunded

LISTED_AFTER = timedelta(hours=1)  # AWS's list shows an adjustment an hour after it took it
HOURS = ("--from", "2026-11-26T10:00Z", "--to", "2026-11-28T10:00Z")


class ListedLate:
    """Our Agreement Service client, as AWS's list lagging ``LISTED_AFTER`` behind what it took reads."""

    def __init__(self, real: Any, world: Any) -> None:
        self.real, self.world = real, world

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def adjustments_like(self, entry: RefundEntry) -> list[BillingAdjustment]:
        now = self.world.clock.now()
        return [a for a in self.real.adjustments_like(entry) if a.created_at <= now - LISTED_AFTER]


def test_a_held_refund_sent_again_a_minute_before_settle_is_not_freed(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world = refunds("0.01", settings, marketplace, dynamodb)
    world.move_to(START + timedelta(minutes=5))
    world.use(0, "api_calls", 5000, "honest-0")  # honest usage: the flush seals from 09:00 on
    for day, hours_after_start, units in ((26, 1, 1000), (28, 49, 700)):
        world.bill_unused(hours_after_start, units)  # at 10:05 on 26 and 28 November: units nobody used
        world.move_to(datetime(2026, 11, day, 12, 10, tzinfo=UTC))
        status, _, err = world.cli("flush", "--json")
        assert status == 0, err

    # worked out and kept on 29 November 11:00; the call never reaches AWS
    world.marketplace.admin.queue_errors({"operation": BATCH, "code": "ThrottlingException", "count": 20})
    world.cli("adjust", *HOURS, "--send")
    world.marketplace.admin.queue_errors()
    (kept,) = DynamoRefundClaims(world.dynamodb, world.settings.metering_table).unanswered()
    assert kept.entry.amount == Decimal(17)
    assert refunded(world) == 0

    # sent again as it was a day and a half later: AWS takes it, its answer is lost
    world.move_to(datetime(2026, 11, 30, 23, 0, tzinfo=UTC))
    world.marketplace.admin.queue_errors({"operation": BATCH, "code": "LostResponse", "count": 10})
    world.cli("adjust", *HOURS, "--send")
    world.marketplace.admin.queue_errors()
    assert refunded(world) == Decimal(17)

    # the operator lowers audit_retention_days to 3: 26 November 10:00 can no longer be told, the refund is held
    world.settings = replace(world.settings, audit_retention_days=3)
    world._target = None
    target = world.target()
    assert target.billing is not None
    late = cast(Any, ListedLate(target.billing(), world))
    world._target = replace(target, billing=lambda: late)
    world.move_to(world.clock.now() + timedelta(minutes=1))
    status, out, err = world.cli("adjust", "--settle", "--send")
    assert status in (0, 1), err
    # the operator refunds what can still be told: 28 November (26 November is past the 3 days kept)
    status, last, err = world.cli("adjust", "--from", "2026-11-28T10:00Z", "--to", "2026-11-28T10:00Z", "--send")
    assert status in (0, 1), err

    # AWS took the refund of both hours: nothing more is refunded (28 November's 7.00 not a second time)
    shown = f"{refunded(world)} refunded for 17.00 over-billed; settle said {out}; then {last}"
    assert refunded(world) == Decimal(17), shown
