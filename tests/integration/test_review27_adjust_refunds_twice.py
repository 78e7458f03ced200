"""Review 27: ``cli adjust --send`` run again over a window that adds an over-billed hour refunds the hours it
refunded before a second time.

The refund's client token is made from the set of hours it refunds, so the same hours proposed again are the same
refund (``test_adjust.py``); but a run whose window holds one more over-billed hour (the default window, the last 24
hours, run the next morning; or ``--to`` a little later) proposes a new set, a new token, and AWS takes it: the
hours of the first refund are refunded again. The seller pays the buyer back twice for the same units."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from tests.integration.test_adjust import refunds

PRICE = Decimal("0.01")  # the emulator's invoice price per unit, and our list price


def test_a_second_run_over_a_wider_window_refunds_each_over_billed_hour_once(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world = refunds(str(PRICE), settings, marketplace, dynamodb)
    world.bill_two_unused_hours()  # 10:00 and 11:00: 1,000 and 700 units nobody used

    first = world.adjust_send("2026-11-26T10:00Z", "2026-11-26T10:00Z")  # the 10:00 hour
    assert [r["units"] for r in first["refunds"]] == ["1000"]
    second = world.adjust_send("2026-11-26T10:00Z", "2026-11-26T11:00Z")  # the operator widens the window
    outcomes = {tuple(h["hour"] for h in r["over_billed"]): r["outcome"] for r in second["refunds"]}
    token = first["refunds"][0]["client_token"]
    assert outcomes[("2026-11-26T10:00Z",)] == f"cannot refund: refunded before (client token {token})"
    assert outcomes[("2026-11-26T11:00Z",)].startswith("refund requested: ba-")
    world.adjust_send("2026-11-26T09:00Z", "2026-11-26T12:00Z")  # and again, wider still: nothing more to refund

    refunded = sum((Decimal(r["adjustmentAmount"]) for r in world.refunds_sent()), Decimal(0))
    over_billed_units = 1000 + 700
    assert refunded == over_billed_units * PRICE  # 17.00; not 27.00 (10:00's 1,000 units refunded twice)
