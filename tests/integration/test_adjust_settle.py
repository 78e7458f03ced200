"""``cli adjust --settle`` against DynamoDB Local and the Marketplace emulator (ListBillingAdjustmentRequests and
GetBillingAdjustmentRequest): a refund whose answer was lost on every try is found among AWS's adjustments and kept
answered, so it is never sent again; a held refund AWS never took frees its hours a day after it was kept, and the
next run refunds what only it held: every over-billed unit refunded once."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from operations.refund_settlement import SETTLE_AFTER
from tests.integration.test_adjust import BATCH, refunds
from tests.integration.test_review29_held_refund_sent_from_a_narrower_window import a_held_refund, refunded


def _settle(world: Any, *argv: str) -> tuple[int, list[dict[str, Any]]]:
    status, out, err = world.cli("adjust", "--settle", *argv, "--json")
    assert status in (0, 1), err
    return status, list(json.loads(out)["refunds"])


def test_a_refund_whose_answer_was_lost_on_every_try_is_found_and_never_sent_again(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world = refunds("0.01", settings, marketplace, dynamodb)
    world.over_bill(1000)  # 10.00 over-billed
    world.marketplace.admin.queue_errors({"operation": BATCH, "code": "LostResponse", "count": 10})
    status, out, err = world.cli("adjust", "--from", "2026-11-26T09:00Z", "--to", "2026-11-26T10:00Z", "--send")
    assert status == 1, err + out  # AWS took it; no try's answer came back
    (taken,) = world.refunds_sent()
    assert Decimal(taken["adjustmentAmount"]) == Decimal(10)

    status, dry = _settle(world)  # a dry run says what AWS made of it, and keeps nothing
    assert status == 0
    (row,) = dry
    assert row["outcome"].startswith(f"AWS took it: {taken['billingAdjustmentRequestId']}, COMPLETED; dry run")
    assert _settle(world, "--send")[1][0]["outcome"].endswith("kept: never sent again")
    assert _settle(world) == (0, [])  # nothing waits for an answer now

    calls = len(world.marketplace.admin.calls(operation=BATCH))
    status, out, err = world.cli("adjust", "--from", "2026-11-26T09:00Z", "--to", "2026-11-26T10:00Z", "--send")
    assert status == 0, err + out
    assert "refunded before" in out
    assert len(world.marketplace.admin.calls(operation=BATCH)) == calls  # not sent again
    assert refunded(world) == Decimal("10.00")


def test_a_held_refund_aws_never_took_frees_its_hours_a_day_after_and_each_unit_is_refunded_once(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    # 10:00 and 11:00 over-billed (10.00 and 7.00); 11:00 refunded by a refund an earlier version kept under its
    # former key; a second refund of both hours kept, never sent, and held (another refund holds 11:00)
    world = a_held_refund(settings, marketplace, dynamodb)
    assert refunded(world) == Decimal("7.00")

    status, rows = _settle(world, "--send")  # AWS lists none: too soon to say it never took it
    assert status == 1
    (row,) = rows
    assert row["held"] is True
    assert row["outcome"].startswith("not known: AWS lists no adjustment like it (sent ")

    world.move_to(world.clock.now() + SETTLE_AFTER + timedelta(minutes=1))
    status, rows = _settle(world, "--send")
    assert status == 0
    outcome = "AWS never took it; kept: void, never sent again, its hours free for the next adjust to refund"
    assert rows[0]["outcome"] == outcome
    assert _settle(world) == (0, [])

    # 10:00 is refunded now, and 11:00 stays refunded once: 17.00 over-billed, 17.00 refunded
    world.adjust_send("2026-11-26T10:00Z", "2026-11-26T11:00Z")
    assert refunded(world) == Decimal("17.00")
    world.adjust_send("2026-11-26T10:00Z", "2026-11-26T11:00Z")
    assert refunded(world) == Decimal("17.00")


def test_a_refund_aws_failed_whose_failed_event_was_lost_is_refunded_again_after_settle(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    # Given a refund of 10.00 AWS took, then failed, its Failed event lost (the emulator's admin, notify off)
    world = refunds("0.01", settings, marketplace, dynamodb)
    world.over_bill(1000)  # 10.00 over-billed
    window = ("--from", "2026-11-26T09:00Z", "--to", "2026-11-26T10:00Z")
    status, out, err = world.cli("adjust", *window, "--send")
    assert status == 0, err + out
    (taken,) = world.refunds_sent()
    assert _settle(world) == (0, [])  # COMPLETED: nothing to say
    world.marketplace.admin.fail_billing_adjustment(taken["billingAdjustmentRequestId"], notify=False)
    status, out, err = world.cli("adjust", *window, "--send")
    assert status == 0, err + out
    assert "refunded before" in out  # its hours held: nothing refunded
    assert len(world.refunds_sent()) == 1

    # When settle asks AWS (GetBillingAdjustmentRequest) and keeps it failed, as its event would have been
    status, rows = _settle(world, "--send")
    assert status == 0
    (row,) = rows
    assert row["outcome"].startswith(f"AWS failed it: {taken['billingAdjustmentRequestId']}, VALIDATION_FAILED")

    # Then the next adjust refunds 10.00 again under a token of its own, once
    status, out, err = world.cli("adjust", *window, "--send")
    assert status == 0, err + out
    again = [r for r in world.refunds_sent() if r["billingAdjustmentRequestId"] != taken["billingAdjustmentRequestId"]]
    assert [(Decimal(r["adjustmentAmount"]), r["status"]) for r in again] == [(Decimal(10), "COMPLETED")]
    assert again[0]["clientToken"] != taken["clientToken"]
    world.cli("adjust", *window, "--send")
    assert len(world.refunds_sent()) == 2
    assert _settle(world, "--send")[1] == []  # kept failed: nothing more to say
