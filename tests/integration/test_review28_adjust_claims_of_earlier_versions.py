"""Review 28: an hour claimed before its refund key named the customer's product stays refunded once.

Until review 28, an over-billed hour only CloudTrail knew, of a licence's record (CloudTrail names no product for it),
was claimed under a key naming no product; now it names the customer's product. A table holding claims of the
earlier version must still leave those hours out of any other refund: read here as that version kept them. Against
DynamoDB Local and the Marketplace emulator."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from tests.integration.test_adjust import Refunds, refunds

PRICE = Decimal("0.01")  # the emulator's invoice price per unit, and our list price


def as_the_earlier_version_kept_them(world: Refunds) -> int:
    """Every claim's key without its product, as the earlier version wrote an hour only CloudTrail knew (this version
    claims both); how many hours were claimed."""
    table, client = world.settings.metering_table, world.dynamodb
    items = client.query(
        TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "REFUND"}}
    )["Items"]
    unnamed = world.settings.products[0].code + "#"
    moved = 0
    for item in items:
        key = item["sk"]["S"]
        if key.startswith("ASKED#"):
            hours = dict.fromkeys(
                "#" + h["S"].removeprefix(unnamed) if h["S"].startswith(unnamed) else h["S"] for h in item["hours"]["L"]
            )
            client.put_item(TableName=table, Item={**item, "hours": {"L": [{"S": h} for h in hours]}})
        elif key.startswith(unnamed):
            client.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
            client.put_item(TableName=table, Item={**item, "sk": {"S": "#" + key.removeprefix(unnamed)}})
            moved += 1
    return moved


def test_an_hour_claimed_under_no_product_is_not_refunded_again(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world = refunds(str(PRICE), settings, marketplace, dynamodb)
    world.bill_two_unused_hours()  # 10:00 and 11:00: 1,000 and 700 units nobody used

    first = world.adjust_send("2026-11-26T10:00Z", "2026-11-26T10:00Z")
    assert [r["units"] for r in first["refunds"]] == ["1000"]
    assert as_the_earlier_version_kept_them(world) == 1
    second = world.adjust_send("2026-11-26T10:00Z", "2026-11-26T11:00Z")  # one more hour: another token
    outcomes = {tuple(h["hour"] for h in r["over_billed"]): r["outcome"] for r in second["refunds"]}
    token = first["refunds"][0]["client_token"]
    assert outcomes[("2026-11-26T10:00Z",)] == f"cannot refund: refunded before (client token {token})"
    assert outcomes[("2026-11-26T11:00Z",)].startswith("refund requested: ba-")

    refunded = sum((Decimal(r["adjustmentAmount"]) for r in world.refunds_sent()), Decimal(0))
    assert refunded == (1000 + 700) * PRICE  # 17.00; not 27.00 (10:00 refunded again)
