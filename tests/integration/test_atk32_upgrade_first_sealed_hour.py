"""Attack review 32: the flush records how long usage is kept as it seals (``since_r``, the first hour it sealed;
``min_r``, the fewest ``audit_retention_days`` since), and ``cli adjust`` takes every hour from ``since_r`` on as kept
``min_r`` days. But an hour's usage events are written before it is sealed, by the usage API, each to expire at its
``received_at`` + the retention then set: the first hour the upgraded flush seals had its usage written by the earlier
deployment. Where the upgrade also raises ``audit_retention_days`` (30 to the default 400, one ``cdk deploy``), that
hour's usage expires on day 30 while the cursor says it is kept 400 days: from day 30 to CloudTrail's 90, what our
flush billed there, honest usage, shows in CloudTrail with nothing of ours to account for it, and is refunded in full.
Invariant 2 (honest usage is never refunded: an hour whose usage may have expired is never treated as kept); at stake:
every unit billed in the hours whose usage the earlier deployment wrote, here 100 units (1.00) a buyer used at 09:00."""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from functions.flush.ledger import DynamoMeteringLedger
from functions.settings import Settings
from functions.usage.model import UsageEvent, hour_key
from functions.usage.store import DynamoUsageStore
from operations.adjust_cli import run_adjust
from operations.queries import Selection
from tests.unit.test_adjust import HOUR, LICENCE, PRODUCT
from tests.unit.test_adjust_other_regions import NothingSealed, TwoRegions

LATER = HOUR + timedelta(days=40)  # within CloudTrail's 90 days


def test_the_first_hour_an_upgraded_flush_seals_is_never_taken_as_kept_longer_than_its_usage(
    settings: Settings, dynamodb: Any
) -> None:
    table = settings.metering_table
    # the earlier version's flush sealed 08:00 as it did (put_item: next and sealed, nothing of how long usage is kept)
    dynamodb.put_item(
        TableName=table,
        Item={
            "pk": {"S": "SEAL"},
            "sk": {"S": "CURSOR"},
            "next": {"S": hour_key(HOUR)},
            "sealed": {"S": hour_key(HOUR - timedelta(hours=1))},
        },
    )
    # the earlier deployment's usage API, its stack keeping usage 30 days, stores the buyer's 100 units of 09:00
    used = UsageEvent(
        "e-1",
        PRODUCT.code,
        f"{PRODUCT.code}#{LICENCE}",
        "111100000001",
        "api_calls",
        Decimal(100),
        HOUR + timedelta(minutes=10),
        HOUR + timedelta(minutes=10),
        license_arn=LICENCE,
    )
    earlier = DynamoUsageStore(dynamodb, settings.usage_table, shards=1, retention=timedelta(days=30))
    assert earlier.add([used]) == [True]
    # the upgrade, deployed at 09:30, raises audit_retention_days to 400; its flush seals 09:00 at 10:05
    upgraded = DynamoMeteringLedger(dynamodb, table, retention=timedelta(days=400))
    assert upgraded.next_hour_to_seal() == HOUR
    assert upgraded.seal(HOUR)
    floor = upgraded.retention_floor()
    (item,) = dynamodb.scan(TableName=settings.usage_table)["Items"]
    expires = datetime.fromtimestamp(int(item["expires_at"]["N"]), UTC)
    assert expires < LATER  # by day 40 DynamoDB's TTL has removed the hour's usage

    # day 40: `cli adjust` over 09:00, where CloudTrail shows the 100 units our flush billed, our usage of it gone
    world = TwoRegions(home=None, away=100)
    world.away = replace(world.away, metering=NothingSealed(floor))
    world.home.clock.set(LATER)  # type: ignore[attr-defined]
    world.home = replace(world.home, settings=replace(world.home.settings, audit_retention_days=400))
    world.target = replace(world.target, deps=world.home)
    out = io.StringIO()
    run_adjust(argparse.Namespace(send=True, json=True), world.target, Selection(HOUR, HOUR), out, lambda r, c: "")
    rows = json.loads(out.getvalue())["refunds"]
    assert sum((e.amount for e in world.book.refunded), Decimal(0)) == Decimal(0), (floor, expires, rows)
