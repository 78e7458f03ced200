"""Review 27: ``cli adjust`` proposes to refund usage carried from an hour over one record's maximum into the next.

An hour whose usage is over one record's maximum (2,147,483,647 units) bills the maximum and carries the rest into
the next hour of the same customer and dimension (``functions.flush.aggregate.spill``): that hour's record bills its
own usage plus the carry. ``cli reconcile`` knows it (the carry is due there, no mismatch), but ``adjust`` took every
hour whose CloudTrail quantity is above the usage accepted *in that hour* as over-billed, so it refunded the carried
units: usage the buyer had and was billed for once, paid back. Against DynamoDB Local and the emulator."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from tests.integration.test_adjust import START, refunds

UNITS = 2_000_000_000  # one event's worth; two of them in an hour are over one record's maximum


def test_usage_carried_into_the_next_hour_is_not_refunded_as_over_billed(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world = refunds("0.000001", settings, marketplace, dynamodb)
    world.move_to(START + timedelta(minutes=5))
    world.use(0, "api_calls", UNITS, "big-1")
    world.use(0, "api_calls", UNITS, "big-2")  # 4,000,000,000 at 09:00: 1,852,516,353 carried into 10:00
    world.move_to(START + timedelta(hours=1, minutes=5))
    world.use(0, "api_calls", 7, "small-1")  # 10:00's own usage
    world.move_to(START + timedelta(hours=3, minutes=10))
    status, _, err = world.cli("flush", "--json")
    assert status == 0, err
    billed = sum(Decimal(str(r["quantity"])) for r in world.marketplace.admin.ledger(product_code="adjust-product"))
    assert billed == 2 * UNITS + 7  # every unit billed once: 09:00 at the maximum, the rest with 10:00's

    status, out, err = world.cli("reconcile", "--from", "2026-11-26T09:00Z", "--to", "2026-11-26T10:00Z", "--json")
    assert status == 0, err + out  # the reconciliation finds nothing wrong: the carry is due at 10:00

    status, out, err = world.cli(
        "adjust", "--from", "2026-11-26T09:00Z", "--to", "2026-11-26T10:00Z", "--send", "--json"
    )
    assert status == 0, err + out
    assert json.loads(out)["refunds"] == []  # nothing was over-billed
    assert world.refunds_sent() == []
