"""Attack review 33: since 3030f07 an hour before the flush's retention record (``since_r`` and its first two hours:
usage perhaps written by an earlier deployment) counts as kept ``MIN_AUDIT_RETENTION_DAYS``, 2 days, "the fewest
any setting keeps". That holds only for versions from 4fb3e0e on: every version before it let
``audit_retention_days`` be 1 (``_whole(..., 1, 3650)``; pydantic's ``ge=1`` before that), and the deployment an
upgrade replaces is, by definition, one that recorded no floor, most of them older than 4fb3e0e. Upgrading from such
a stack kept 1 day (the new version refuses 1, so the seller sets 2), every hour from 25 hours old (final) to 47 (2 days
less the hour's margin) before the upgraded flush's first seal is called kept: its usage events expired a day after
they were received, so what our own flush billed there, honest usage, shows in CloudTrail with nothing of ours to
account for it, and is refunded in full.
Invariant 2 (honest usage is never refunded); at stake: every unit billed in the day before the upgrade that is
refunded within that band, here 100 units (1.00) a buyer used in eu-west-1 at 09:00."""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from functions.flush.records import RetentionFloor
from operations.adjust_cli import run_adjust
from operations.queries import Selection
from tests.unit.test_adjust import HOUR
from tests.unit.test_adjust_other_regions import NothingSealed, TwoRegions


def test_an_hour_before_the_upgrade_of_a_stack_keeping_usage_one_day_is_not_taken_as_kept_two() -> None:
    # eu-west-1 kept usage 1 day (allowed before 4fb3e0e): a buyer's honest 100 units at 09:00, billed by our flush,
    # expired a day after they were received; the upgrade (set to 2 days) is deployed at 10:30, its flush first
    # seals 10:00 at 11:05; the operator's daily adjust runs at 15:00 the next day
    world = TwoRegions(home=None, away=100)
    world.away = replace(world.away, metering=NothingSealed(RetentionFloor(HOUR + timedelta(hours=1), 2)))
    world.home = replace(world.home, settings=replace(world.home.settings, audit_retention_days=2))
    world.target = replace(world.target, deps=world.home)
    world.home.clock.set(HOUR + timedelta(hours=30))  # type: ignore[attr-defined]
    out = io.StringIO()
    run_adjust(argparse.Namespace(send=True, json=True), world.target, Selection(HOUR, HOUR), out, lambda r, c: "")
    rows = json.loads(out.getvalue())["refunds"]
    # what was due there can no longer be told: nothing is refunded (it may be named, with why)
    assert sum((e.amount for e in world.book.refunded), Decimal(0)) == Decimal(0), [r["outcome"] for r in rows]
