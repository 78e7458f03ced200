"""``cli adjust`` on a deployment that meters in two Regions (cdk.json ``regions``), against DynamoDB Local and the
emulator (which bills, and logs CloudTrail's history, per Region, and invoices each agreement whatever the Region):
an hour someone else billed in eu-west-1 is over-billing as much as one in us-east-1, refunded once on the agreement's
invoice (it read the main Region only, and never refunded it)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle, usage_record
from operations.target import local_target
from tests.integration.test_adjust import START, Refunds, refunds
from tests.operator_world import regional_stack

OTHER = "eu-west-1"


@pytest.fixture
def world(settings: Settings, marketplace: EmulatorHandle, dynamodb: Any) -> Iterator[Refunds]:
    found = refunds("0.01", replace(settings, other_metering_regions=(OTHER,)), marketplace, dynamodb)
    with regional_stack(found.settings, OTHER, dynamodb) as regional:
        found.regions = (regional,)
        yield found


def test_an_hour_over_billed_in_another_region_is_refunded_once_on_the_agreements_invoice(world: Refunds) -> None:
    # our first customer's honest 5,000 units at 09:00 in us-east-1, billed by our flush; 1,200 units nobody used,
    # billed at 10:05 in eu-west-1 by someone else
    world.move_to(START + timedelta(minutes=5))
    world.use(0, "api_calls", 5000, "honest-0")
    world.move_to(START + timedelta(hours=1, minutes=5))
    records = [usage_record(world.subscriptions[0], "api_calls", 1200, world.clock.now())]
    away = world.marketplace.metering(region=OTHER, max_attempts=8)
    assert away.batch_meter_usage(UsageRecords=records)["UnprocessedRecords"] == []
    world.move_to(START + timedelta(hours=2, minutes=10))
    status, _, err = world.cli("flush", "--json")
    assert status == 0, err
    for regional in world.regions:  # each Region's flush seals its own hours (recording how long usage is kept)
        local_target(regional, credentials={}, clock=world.clock).run_flush(lambda _: None)

    shown = world.adjust_send("2026-11-26T09:00Z", "2026-11-26T10:00Z")
    (refund,) = shown["refunds"]
    assert [(h["hour"], h["region"], h["billed"], h["due"]) for h in refund["over_billed"]] == [
        ("2026-11-26T10:00Z", OTHER, "1200", "0")
    ]
    assert refund["outcome"].startswith("refund requested: ")
    again = world.adjust_send("2026-11-26T09:00Z", "2026-11-26T10:00Z")
    (sent,) = world.refunds_sent()
    assert (sent["agreementId"], Decimal(sent["adjustmentAmount"])) == (
        world.subscriptions[0]["agreement_id"],
        Decimal("12"),
    )
    # the second run sent nothing: the hour was refunded, by that refund
    assert [r["outcome"] for r in again["refunds"]] == [
        f"cannot refund: refunded before (client token {sent['clientToken']})"
    ]
    assert refund["client_token"] == sent["clientToken"]
