"""Review 27b: an over-billed hour whose refund got no answer is never refunded once the same command finds another.

``cli adjust --send`` claims each hour under the refund's client token before sending it, and keeps the claim when
no answer came (AWS may have taken it). The docs promise "the same command sends the same refund again"; but the
next run computes the token again from what its window holds then: one more over-billed hour of the same invoice
meanwhile (or the default window, the last 24 hours, having moved; or the invoice's maxAdjustmentAmount, a capped
amount) makes another token, and the claimed hour is only named "refunded before". When AWS never received the
first request (a 5xx on every attempt), that hour is never refunded: the buyer is owed it, and no command sends it.
Against DynamoDB Local and the emulator."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from tests.integration.test_adjust import BATCH, START, refunds

PRICE = Decimal("0.01")  # the emulator's invoice price per unit, and our list price


def test_a_refund_aws_never_received_is_sent_by_the_next_run_whatever_its_window(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world = refunds(str(PRICE), settings, marketplace, dynamodb)
    world.move_to(START + timedelta(minutes=5))
    world.use(0, "api_calls", 5000, "honest-0")  # the invoice has room beyond what was over-billed
    world.bill_unused(1, 1000)  # 10:05, 1,000 units nobody used
    world.move_to(START + timedelta(hours=3, minutes=10))
    status, _, err = world.cli("flush", "--json")
    assert status == 0, err

    # AWS answers 500 to every attempt: the request never reached its refunds
    window = ("--from", "2026-11-26T10:00Z", "--to", "2026-11-26T13:00Z")
    world.marketplace.admin.queue_errors({"operation": BATCH, "code": "InternalServerException", "count": 20})
    status, out, err = world.cli("adjust", *window, "--send")
    assert status != 0  # the operator sees it failed, and runs the same command again later
    world.marketplace.admin.clear_faults()
    assert world.refunds_sent() == []

    world.bill_unused(4, 700)  # meanwhile 13:05, 700 more nobody used: the same agreement's invoice of the month
    world.move_to(START + timedelta(hours=6, minutes=10))
    status, _, err = world.cli("flush", "--json")
    assert status == 0, err
    status, out, err = world.cli("adjust", *window, "--send", "--json")
    assert status == 0, err + out
    status, out, err = world.cli("adjust", *window, "--send", "--json")  # and once more: nothing new
    assert status == 0, err + out

    refunded = sum((Decimal(r["adjustmentAmount"]) for r in world.refunds_sent()), Decimal(0))
    # 17.00; not 7.00: 10:00's 1,000 units shown "refunded before" under the token AWS never received
    assert refunded == (1000 + 700) * PRICE, out


def test_a_refund_whose_run_stopped_midway_through_its_claims_is_sent_again_with_all_its_hours(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world = refunds(str(PRICE), settings, marketplace, dynamodb)
    world.move_to(START + timedelta(minutes=5))
    world.use(0, "api_calls", 5000, "honest-0")
    world.bill_unused(1, 1000)  # 10:05
    world.bill_unused(2, 300)  # 11:05
    world.move_to(START + timedelta(hours=3, minutes=10))
    status, _, err = world.cli("flush", "--json")
    assert status == 0, err
    window = ("--from", "2026-11-26T10:00Z", "--to", "2026-11-26T13:00Z")
    world.marketplace.admin.queue_errors({"operation": BATCH, "code": "InternalServerException", "count": 20})
    status, _, _ = world.cli("adjust", *window, "--send")
    assert status != 0
    world.marketplace.admin.clear_faults()
    # as if that run had stopped (a storage error) after claiming 10:00 and before claiming 11:00
    claims = dynamodb.query(
        TableName=world.settings.metering_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "REFUND"}},
    )["Items"]
    eleven = [c for c in claims if c["sk"]["S"].endswith("#2026-11-26T11")]
    assert len(eleven) == 2  # under its key and its former key (review 28)
    for claim in eleven:
        dynamodb.delete_item(TableName=world.settings.metering_table, Key={"pk": claim["pk"], "sk": claim["sk"]})

    world.bill_unused(4, 700)  # 13:05, one more hour of the invoice
    world.move_to(START + timedelta(hours=6, minutes=10))
    status, _, err = world.cli("flush", "--json")
    assert status == 0, err
    for _ in range(2):
        status, out, err = world.cli("adjust", *window, "--send", "--json")
        assert status == 0, err + out

    refunded = sum((Decimal(r["adjustmentAmount"]) for r in world.refunds_sent()), Decimal(0))
    assert refunded == (1000 + 300 + 700) * PRICE, out  # 20.00: each hour once, 11:00 not again beside 13:00
