"""Attack review 33: the flush records as it seals how long usage is kept from the first hour it sealed on
(``since_r``), and since 3030f07 ``cli adjust`` takes every hour from two hours after it as kept that long. But an
hour's usage events are written by the usage API as they arrive, with the expiry of the deployment then: the first
hour the upgraded flush seals says nothing of who wrote its usage. Where the earlier version's flush had stopped
sealing (failing: the very reason to deploy the upgrade, or its table throttled) the upgraded flush's first seal is
the oldest hour of its backlog, hours or days before the upgrade; every later hour of that backlog was written by the
earlier deployment (kept 30 days, say) and is called kept 400 (the setting raised with the upgrade, attack 31's
case). From day 30 to 90 (CloudTrail's history) what our own flush billed in those hours, honest usage, shows in
CloudTrail with nothing of ours to account for it, and is refunded in full, for every buyer of those hours.
Invariant 2 (honest usage is never refunded); at stake: every unit billed in the backlog's hours, here 100 units
(1.00) a buyer used in eu-west-1 at 09:00, five hours after the upgraded flush's first sealed hour."""

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


def test_an_hour_of_the_backlog_the_upgraded_flush_sealed_first_is_not_taken_as_kept_by_the_new_setting() -> None:
    # eu-west-1 kept usage 30 days; its flush stopped sealing at 04:00; the upgrade (keeping 400 days) is deployed at
    # 15:00 and its flush seals the backlog from 04:00 on: a buyer's honest 100 units at 09:00, billed by our flush,
    # were written by the earlier deployment and expired on day 30
    world = TwoRegions(home=None, away=100)
    # (the upgraded flush first recorded its retention at 15:00 by its clock, as it sealed 04:00)
    world.away = replace(world.away, metering=NothingSealed(RetentionFloor(HOUR + timedelta(hours=6), 400)))
    world.home.clock.set(HOUR + timedelta(days=40))  # type: ignore[attr-defined]
    world.home = replace(world.home, settings=replace(world.home.settings, audit_retention_days=400))
    world.target = replace(world.target, deps=world.home)
    out = io.StringIO()
    run_adjust(argparse.Namespace(send=True, json=True), world.target, Selection(HOUR, HOUR), out, lambda r, c: "")
    rows = json.loads(out.getvalue())["refunds"]
    # what was due there can no longer be told: nothing is refunded (it may be named, with why)
    assert sum((e.amount for e in world.book.refunded), Decimal(0)) == Decimal(0), [r["outcome"] for r in rows]
