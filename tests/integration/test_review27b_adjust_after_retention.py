"""Review 27b: ``cli adjust`` refunds honest usage once the hour is older than ``audit_retention_days``.

A usage event's item lives ``audit_retention_days`` after it was received and a ledger record as long after its hour
(their TTL); CloudTrail keeps 90 days. The CLI refuses a ``--from`` older than the retention, but the selection starts
at that time's hour: ``adjust --from 2d`` (with the retention at 2 days, the least the settings take) 40 minutes into
an hour reads the hour two days back, whose usage events and record have expired (or some of them), while CloudTrail
still shows what AWS billed. ``over_billed`` takes the accepted units as 0 (the result as unknown to the ledger) and
proposes, with ``--send`` refunds, everything AWS billed that hour: the buyer's honest usage paid back.
Against DynamoDB Local (whose TTL deletes nothing: the test deletes what AWS's would have) and the emulator."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from functions.settings import Settings
from local.marketplace.testing import EmulatorHandle
from tests.integration.test_adjust import START, refunds

RETENTION_DAYS = 2  # the least the settings take


def _expire(dynamodb: Any, table: str, now: datetime) -> int:
    """What DynamoDB's TTL deletes: every item whose ``expires_at`` has passed. A usage event's is its receipt plus
    the retention, as the deployed store stamps it (the test world's store stamps a date far off)."""
    gone = 0
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            if "r" in item and not item["pk"]["S"].startswith("ID#"):
                expires = datetime.fromisoformat(item["r"]["S"]) + timedelta(days=RETENTION_DAYS)
            elif "expires_at" in item:
                expires = datetime.fromtimestamp(float(item["expires_at"]["N"]), UTC)
            else:
                continue
            if expires <= now:
                dynamodb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
                gone += 1
    return gone


def test_an_hour_whose_usage_has_expired_is_not_refunded_as_over_billed(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    world = refunds("0.01", replace(settings, audit_retention_days=RETENTION_DAYS), marketplace, dynamodb)
    world.move_to(START + timedelta(minutes=5))
    world.use(0, "api_calls", 5000, "honest-0")  # billed once, at 09:00: nothing over-billed
    world.move_to(START + timedelta(hours=2, minutes=10))
    status, _, err = world.cli("flush", "--json")
    assert status == 0, err
    billed = sum(Decimal(str(r["quantity"])) for r in world.marketplace.admin.ledger(product_code="adjust-product"))
    assert billed == 5000

    # two days later, 40 minutes into the hour: `--from 2d` is the oldest time the CLI takes, and the selection
    # starts at its hour, 09:00, whose event (received 09:05) and record (TTL: the hour + 2 days) have expired
    world.move_to(START + timedelta(days=RETENTION_DAYS, minutes=40))
    now = world.clock.now()
    assert _expire(dynamodb, world.settings.usage_table, now) > 0
    assert _expire(dynamodb, world.settings.metering_table, now) > 0

    status, out, err = world.cli("adjust", "--from", f"{RETENTION_DAYS}d", "--send", "--json")
    assert status in (0, 1), err
    refunded = sum((Decimal(r["adjustmentAmount"]) for r in world.refunds_sent()), Decimal(0))
    assert refunded == 0, out  # not 50.00: the buyer's 5,000 honest units paid back
    assert [r["outcome"] for r in json.loads(out)["refunds"] if r["outcome"].startswith("refund requested")] == []
