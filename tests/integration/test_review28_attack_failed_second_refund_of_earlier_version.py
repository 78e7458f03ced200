"""Review 28 attack: an hour the earlier version refunded, then asked for again under its key now (AWS failed that
second refund), is refunded a second time by this version.

The earlier version claimed an hour only CloudTrail knew under no product (refund A, taken and done) and, once usage
placed in the hour named its product, asked for it again under its key now (refund B: review 28's very bug). Where
AWS failed B (Billing Adjustment Failed: it refunded nothing), the hour was refunded once, by A. This version reads
both claims and folds them into one entry (``DynamoRefundClaims.earlier``: ``formerly.get(k, k)``); the one read
last wins. DynamoDB Local returns the key now (``<product>#...``) after the former (``#...``), so B wins: failed, its
hour is "asked for again" under a new token, and ``claim`` (which looks at the key now only, held by B, failed) lets
it through: the hour A refunded is refunded again. (Real DynamoDB returns BatchGetItem's items in no set order: there
either may win, run to run.)

The earlier version's table is written here as it kept it: A by this version's own send, its claim then moved under
no product (as test_review28_adjust_claims_of_earlier_versions does), B's claim and refund as that version wrote them,
and AWS's Failed event for B kept as the lifecycle keeps it. Against DynamoDB Local and the Marketplace emulator."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from tests.integration.test_adjust import START, Refunds, refunds
from tests.integration.test_review27b_adjust_failed_refund_never_asked_again import _failed

PRICE = Decimal("0.01")  # the emulator's invoice price per unit, and our list price
WINDOW = ("--from", "2026-11-26T10:00Z", "--to", "2026-11-26T10:00Z")
SECOND = "adjust-" + "b" * 40  # the earlier version's second refund of the hour
SECOND_ID = "ba-00000000000000000000000000000b"


def _adjust(world: Refunds) -> dict[str, Any]:
    status, out, err = world.cli("adjust", *WINDOW, "--send", "--json")
    assert status in (0, 1), err + out
    shown: dict[str, Any] = json.loads(out)
    return shown


def _refund_items(world: Refunds) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = world.dynamodb.query(
        TableName=world.settings.metering_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "REFUND"}},
    )["Items"]
    return items


def _as_the_earlier_version_kept_them(world: Refunds) -> None:
    """A's claim under no product; B's claim of the same hour under its key now, and B as sent, failed later."""
    table, client = world.settings.metering_table, world.dynamodb
    unnamed = world.settings.products[0].code + "#"
    items = _refund_items(world)
    (claim,) = [i for i in items if not i["sk"]["S"].startswith("ASKED#")]
    (asked,) = [i for i in items if i["sk"]["S"].startswith("ASKED#")]
    key_now = claim["sk"]["S"]
    assert key_now.startswith(unnamed)
    former = "#" + key_now.removeprefix(unnamed)
    client.delete_item(TableName=table, Key={"pk": claim["pk"], "sk": claim["sk"]})
    client.put_item(TableName=table, Item={**claim, "sk": {"S": former}})
    client.put_item(TableName=table, Item={**asked, "hours": {"L": [{"S": former}]}})
    # B: the same hour once usage placed there named its product, under its key now
    client.put_item(TableName=table, Item={**claim, "token": {"S": SECOND}})
    second = {
        **asked,
        "sk": {"S": "ASKED#" + SECOND},
        "token": {"S": SECOND},
        "hours": {"L": [{"S": key_now}]},
        "request_id": {"S": SECOND_ID},
    }
    client.put_item(TableName=table, Item=second)


def test_an_hour_refunded_once_by_the_earlier_version_is_not_refunded_again(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world = refunds(str(PRICE), settings, marketplace, dynamodb)
    world.move_to(START + timedelta(minutes=5))
    world.use(0, "api_calls", 5000, "honest-0")  # billed by our flush: the invoice has room beyond the over-billing
    world.bill_unused(1, 1000)  # 10:05, 1,000 units nobody used: only CloudTrail knows the hour
    world.move_to(START + timedelta(hours=3, minutes=10))
    status, _, err = world.cli("flush", "--json")
    assert status == 0, err

    first = _adjust(world)  # A: 10.00, taken and done
    assert [r["units"] for r in first["refunds"]] == ["1000"]
    (done,) = world.refunds_sent()
    _as_the_earlier_version_kept_them(world)
    _failed(world, {**done, "billingAdjustmentRequestId": SECOND_ID})  # AWS failed B: it refunded nothing

    outcomes = []
    for _ in range(2):  # this version, over the same hour, twice
        outcomes += [r["outcome"] for r in _adjust(world)["refunds"]]
    refunded = sum((Decimal(r["adjustmentAmount"]) for r in world.refunds_sent()), Decimal(0))
    # 10.00, by A; not 20.00: the hour asked for again as if B's failure left it unrefunded
    assert refunded == 1000 * PRICE, outcomes
