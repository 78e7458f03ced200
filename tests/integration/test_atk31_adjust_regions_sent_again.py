"""Attack review 31, against DynamoDB Local and the emulator, two metering Regions: honest usage in each Region is never
refunded, an hour someone else billed in each is refunded once, 8.00 + 12.00 (this holds); but a later run over the
same hours sends that refund again (another BatchCreateBillingAdjustmentRequest carrying the same entry), though the
claims keep AWS's answer to it. Only the Agreement Service's memory of the client token, whose lifetime AWS does not
document, keeps the second call from refunding 20.00 more (invariants 1 and 3; the unit test
tests/unit/test_atk31_answered_refund_sent_again.py, and test_atk31_resent_refund_refused_frees_taken_hours.py for what
an error answering that resend costs)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from local.marketplace.testing import usage_record
from operations.target import local_target
from tests.integration.test_adjust import BATCH, START, Refunds
from tests.integration.test_adjust_regions import OTHER, world  # noqa: F401


def test_honest_usage_of_both_regions_kept_outsiders_refunded_once_and_never_sent_again(
    world: Refunds,  # noqa: F811
) -> None:
    away = world.regions[0]
    world.move_to(START + timedelta(minutes=5))
    world.use(0, "api_calls", 5000, "honest-main")
    world.use(0, "api_calls", 3000, "honest-away", region=away)
    world.move_to(START + timedelta(hours=1, minutes=5))
    records = [usage_record(world.subscriptions[0], "api_calls", 1200, world.clock.now())]
    away_sender = world.marketplace.metering(region=OTHER, max_attempts=8)
    assert away_sender.batch_meter_usage(UsageRecords=records)["UnprocessedRecords"] == []
    records = [usage_record(world.subscriptions[0], "api_calls", 800, world.clock.now())]
    assert world.outsider().batch_meter_usage(UsageRecords=records)["UnprocessedRecords"] == []
    world.move_to(START + timedelta(hours=2, minutes=10))
    for region in (world.settings, away):
        local_target(region, credentials={}, clock=world.clock).run_flush(lambda _: None)
    world.move_to(START + timedelta(days=2))

    first = world.adjust_send("2026-11-26T09:00Z", "2026-11-26T10:00Z")
    (refund,) = first["refunds"]
    assert sorted((h["hour"], h["region"] or "", h["billed"], h["due"]) for h in refund["over_billed"]) == [
        ("2026-11-26T10:00Z", "", "800", "0"),
        ("2026-11-26T10:00Z", OTHER, "1200", "0"),
    ]
    (sent,) = world.refunds_sent()
    assert Decimal(sent["adjustmentAmount"]) == Decimal("20")  # 2,000 units at 0.01; 09:00's honest usage kept

    world.adjust_send("2026-11-26T08:00Z", "2026-11-26T10:00Z")
    # the refund AWS took is never asked for again: one call, whatever later windows hold
    assert len(world.marketplace.admin.calls(operation=BATCH)) == 1
