"""Review 28 (found by the simulator's refund worlds): a record someone else sent twice, identical (an SDK's retry
after a lost answer), is billed once and refunded once.

Marketplace answers an identical record sent again with its first MeteringRecordId and bills it once; CloudTrail logs
each call, so the hour's result appears twice. ``cli reconcile`` showed each as a row of its own, and ``cli adjust``
refunded the hour's units twice. Against DynamoDB Local and the Marketplace emulator."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from tests.integration.test_adjust import START, Refunds, refunds

PRICE = Decimal("0.01")  # the emulator's invoice price per unit, and our list price


def test_an_outside_record_sent_twice_is_refunded_once(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world: Refunds = refunds(str(PRICE), settings, marketplace, dynamodb)
    world.move_to(START + timedelta(minutes=5))
    world.use(0, "api_calls", 5000, "honest-0")  # billed by our flush: the invoice has room beyond the over-billing
    world.bill_unused(1, 1000)  # 10:05, 1,000 units nobody used
    world.bill_unused(1, 1000)  # the same record again: Marketplace answers it as before, CloudTrail logs the call
    world.bill_unused(2, 700)  # 11:05, 700 more
    world.move_to(START + timedelta(hours=4, minutes=10))
    status, _, err = world.cli("flush", "--json")
    assert status == 0, err
    billed = [r for r in world.marketplace.admin.state()["ledger"] if r["dimension"] == "api_calls"]
    assert sorted(Decimal(r["quantity"]) for r in billed) == [700, 1000, 5000]  # billed once each

    shown = world.adjust_send("2026-11-26T10:00Z", "2026-11-26T11:00Z")
    assert [r["units"] for r in shown["refunds"]] == ["1700"], shown
    refunded = sum((Decimal(r["adjustmentAmount"]) for r in world.refunds_sent()), Decimal(0))
    assert refunded == (1000 + 700) * PRICE  # 17.00; not 27.00 (10:00's retry refunded as a second billing)
