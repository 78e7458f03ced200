"""Attack review 32: the flush records how long usage is kept from ``audit_retention_days`` as set when it seals an
hour (``min_r``, lowered, never raised), but an hour's usage events are written earlier, by the usage API, each to
expire at its ``received_at`` + the retention set then. A lower setting in force only between two seals is never
recorded: a ``cdk deploy`` lowering it to 10 days that updates the usage function, then fails on another resource and
is rolled back by CloudFormation (400 again) before the flush's next run, leaves usage written in those minutes
expiring on day 10 while the cursor says every hour is kept 400 days. From day 10 to CloudTrail's 90, what our flush
billed in that hour, honest usage, shows in CloudTrail with nothing of ours to account for it, and is refunded in full.
Invariant 2 (an hour whose usage may have expired is never treated as kept); at stake: every unit billed in the hours
touched, here 100 units (1.00) a buyer used at 09:00."""

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
from functions.usage.model import UsageEvent
from functions.usage.store import DynamoUsageStore
from operations.adjust_cli import run_adjust
from operations.queries import Selection
from tests.unit.test_adjust import HOUR, LICENCE, PRODUCT
from tests.unit.test_adjust_other_regions import NothingSealed, TwoRegions

LATER = HOUR + timedelta(days=20)  # within CloudTrail's 90 days


def test_a_retention_in_force_between_two_seals_is_never_missed(settings: Settings, dynamodb: Any) -> None:
    table = settings.metering_table
    # the stack keeps usage 400 days; its flush sealed 08:00 at 09:05 (recording it)
    kept = DynamoMeteringLedger(dynamodb, table, retention=timedelta(days=400))
    assert kept.seal(HOUR - timedelta(hours=1))
    # 09:08: a deploy lowering audit_retention_days to 10 updates the usage function, which stores 100 units at 09:10
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
    lowered = DynamoUsageStore(dynamodb, settings.usage_table, shards=1, retention=timedelta(days=10))
    assert lowered.add([used]) == [True]
    # 09:15: the deploy fails on another resource and is rolled back (400 days again); the flush seals 09:00 at 10:05
    flush = DynamoMeteringLedger(dynamodb, table, retention=timedelta(days=400))
    assert flush.next_hour_to_seal() == HOUR
    assert flush.seal(HOUR)
    floor = flush.retention_floor()
    (item,) = dynamodb.scan(TableName=settings.usage_table)["Items"]
    expires = datetime.fromtimestamp(int(item["expires_at"]["N"]), UTC)
    assert expires < LATER  # by day 20 DynamoDB's TTL has removed the hour's usage

    # day 20: `cli adjust` over 09:00, where CloudTrail shows the 100 units our flush billed, our usage of it gone
    world = TwoRegions(home=None, away=100)
    world.away = replace(world.away, metering=NothingSealed(floor))
    world.home.clock.set(LATER)  # type: ignore[attr-defined]
    world.home = replace(world.home, settings=replace(world.home.settings, audit_retention_days=400))
    world.target = replace(world.target, deps=world.home)
    out = io.StringIO()
    run_adjust(argparse.Namespace(send=True, json=True), world.target, Selection(HOUR, HOUR), out, lambda r, c: "")
    rows = json.loads(out.getvalue())["refunds"]
    assert sum((e.amount for e in world.book.refunded), Decimal(0)) == Decimal(0), (floor, expires, rows)
