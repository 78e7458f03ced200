"""Review 28 attack: an hour the earlier version refunded, then asked for again under its key now (AWS failed that
second refund), is refunded a second time by this version.

The earlier version claimed an hour only CloudTrail knew under no product (refund A, taken and done; here 20 such
hours, so that DynamoDB's order reads B last for one at least) and, once usage placed in the hour named its product,
asked for it again under its key now (refund B: review 28's very bug). Where AWS failed B (Billing Adjustment
Failed: it refunded nothing), the hour was refunded once, by A. This version reads both claims and folds them into
one entry (``DynamoRefundClaims.earlier``: ``formerly.get(k, k)``); the one read last wins. BatchGetItem returns
items in no set order (DynamoDB Local's follows the keys' text, here a random licence ARN's: about half the hours
read B last); where B wins, failed, its hour is "asked for again" under a new token, and ``claim`` (which looks at
the key now only, held by B, failed) lets it through: the hour A refunded is refunded again. (20 hours: the chance
that none reads B last is about one in a million.)

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
from tests.integration.test_review27b_adjust_failed_refund_never_asked_again import fail_refund
from tests.integration.test_review28_adjust_claims_of_earlier_versions import as_the_earlier_version_kept_them

PRICE = Decimal("0.01")  # the emulator's invoice price per unit, and our list price
HOURS = 20  # over-billed hours, each in the state described: read in one request, in an order DynamoDB picks
UNITS = 100
WINDOW = ("--from", "2026-11-26T10:00Z", "--to", "2026-11-27T05:00Z")  # 10:00 .. 05:00 the next day: 20 hours
SECOND = "adjust-" + "b" * 40  # the earlier version's second refund of the hour
SECOND_ID = "ba-00000000000000000000000000000b"


def _bill_unused_hours(world: Refunds) -> None:
    """10:05 .. 05:05 the next day, 100 units an hour nobody used: only CloudTrail knows those hours."""
    for offset in range(1, HOURS + 1):
        world.bill_unused(offset, UNITS)
        if offset == 3:  # 12:05: 09:00's honest usage is sent while Marketplace takes it (up to 6 hours back)
            status, _, err = world.cli("flush", "--json")
            assert status == 0, err
    world.move_to(START + timedelta(hours=HOURS + 3, minutes=10))


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


def _as_the_earlier_version_kept_them(world: Refunds, answered: bool = True) -> None:
    """A's claim under no product; B's claim of the same hour under its key now, and B as sent (``answered``: AWS
    took it, else its answer never came)."""
    table, client = world.settings.metering_table, world.dynamodb
    unnamed = world.settings.products[0].code + "#"
    assert as_the_earlier_version_kept_them(world) == HOURS  # A, under no product
    items = _refund_items(world)
    claims = [i for i in items if not i["sk"]["S"].startswith("ASKED#")]
    (asked,) = [i for i in items if i["sk"]["S"].startswith("ASKED#")]
    assert len(claims) == HOURS
    for claim in claims:
        # B: the same hour once usage placed there named its product, under its key now
        key_now = unnamed + claim["sk"]["S"].removeprefix("#")
        client.put_item(TableName=table, Item={**claim, "sk": {"S": key_now}, "token": {"S": SECOND}})
    hours = [unnamed + h["S"].removeprefix("#") for h in asked["hours"]["L"]]
    second = {
        **asked,
        "sk": {"S": "ASKED#" + SECOND},
        "token": {"S": SECOND},
        "hours": {"L": [{"S": h} for h in hours]},
        "request_id": {"S": SECOND_ID},
    }
    if not answered:  # A's item, copied, was answered
        del second["request_id"]
    client.put_item(TableName=table, Item=second)


def test_an_hour_refunded_once_by_the_earlier_version_is_not_refunded_again(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world = refunds(str(PRICE), settings, marketplace, dynamodb)
    world.move_to(START + timedelta(minutes=5))
    world.use(0, "api_calls", 9000, "honest-0")  # billed by our flush: the invoice has room beyond the over-billing
    _bill_unused_hours(world)

    first = _adjust(world)  # A: 10.00, taken and done
    assert [r["units"] for r in first["refunds"]] == [str(HOURS * UNITS)]
    (done,) = world.refunds_sent()
    _as_the_earlier_version_kept_them(world)
    fail_refund(world, {**done, "billingAdjustmentRequestId": SECOND_ID})  # AWS failed B: it refunded nothing

    outcomes = []
    for _ in range(2):  # this version, over the same hour, twice
        outcomes += [r["outcome"] for r in _adjust(world)["refunds"]]
    refunded = sum((Decimal(r["adjustmentAmount"]) for r in world.refunds_sent()), Decimal(0))
    # 20.00, by A; not more: an hour where B was read last asked for again as if B's failure left it unrefunded
    assert refunded == HOURS * UNITS * PRICE, outcomes


def test_an_hour_refunded_once_by_the_earlier_version_is_not_refunded_by_its_second_refund_sent_again(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    """B's answer never came (AWS never received it): this version sends it again "as it was", though A, read beside
    it, refunded its hour already; the earlier version's double refund, which never happened, happens now."""
    world = refunds(str(PRICE), settings, marketplace, dynamodb)
    world.move_to(START + timedelta(minutes=5))
    world.use(0, "api_calls", 9000, "honest-0")
    _bill_unused_hours(world)

    first = _adjust(world)  # A: 10.00, taken and done
    assert [r["units"] for r in first["refunds"]] == [str(HOURS * UNITS)]
    _as_the_earlier_version_kept_them(world, answered=False)

    outcomes = []
    for _ in range(2):
        outcomes += [r["outcome"] for r in _adjust(world)["refunds"]]
    refunded = sum((Decimal(r["adjustmentAmount"]) for r in world.refunds_sent()), Decimal(0))
    # 20.00, by A; not 40.00: B sent for the hours A refunded
    assert refunded == HOURS * UNITS * PRICE, outcomes
