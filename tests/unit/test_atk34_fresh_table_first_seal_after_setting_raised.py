"""Attack review 34: on a fresh metering table 731b752 records ``since_r`` as the first hour sealed ("a stack's first
seal: nothing was written before this deployment"). But the stack's usage API writes usage from the moment it is
deployed, with the expiry of the setting then, and the flush's first seal is its first run that gets that far: where
it failed until then (a day, say: the very reason the operator redeploys), it seals from 24 hours back
(``METERING_WINDOW``), so ``since_r`` is a day before the seal. A redeploy in that day that raised
``audit_retention_days`` (30 to 400) is not on record: the first seal writes ``min_r`` 400, and every hour from two
hours after ``since_r`` up to the redeploy, written to be kept 30 days, is taken as kept 400. From day 30 to 90 the
buyers' honest usage of those hours, billed by our own flush, shows in CloudTrail with nothing of ours to account
for it and is refunded in full. (The upgraded-table case records the hour of the first seal by the clock instead;
the same rule here would hold the day back.)
Invariant 2 (honest usage is never refunded); at stake: every unit billed in up to 22 hours, for every buyer, here
100 units (1.00) used in eu-west-1 at 09:00. The adjust-level input is the record the fresh table's first seal
writes (``DynamoMeteringLedger.seal``: ``since_r = if_not_exists(since_r, :first)``, ``:first`` the hour sealed)."""

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


def test_an_hour_written_before_a_fresh_tables_first_seal_is_not_taken_as_kept_by_a_setting_raised_since() -> None:
    # the stack deployed at 03:00 keeping usage 30 days; its flush fails; at 14:00 the operator redeploys keeping 400
    # days, and the flush's first run to seal, at 04:00 the next day, seals from 04:00 (24 hours back): since_r 04:00
    world = TwoRegions(home=None, away=100)
    world.away = replace(world.away, metering=NothingSealed(RetentionFloor(HOUR - timedelta(hours=5), 400)))
    world.home.clock.set(HOUR + timedelta(days=40))  # type: ignore[attr-defined]
    world.home = replace(world.home, settings=replace(world.home.settings, audit_retention_days=400))
    world.target = replace(world.target, deps=world.home)
    out = io.StringIO()
    run_adjust(argparse.Namespace(send=True, json=True), world.target, Selection(HOUR, HOUR), out, lambda r, c: "")
    rows = json.loads(out.getvalue())["refunds"]
    # the buyer's 100 units at 09:00, written to be kept 30 days, expired on day 30: nothing of it is refunded
    assert sum((e.amount for e in world.book.refunded), Decimal(0)) == Decimal(0), [r["outcome"] for r in rows]
