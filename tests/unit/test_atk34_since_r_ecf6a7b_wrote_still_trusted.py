"""Attack review 34: 731b752 fixed attack 33's backlog case in the flush (on a table an earlier version sealed,
``since_r`` is now the hour of the first seal by the clock), and changed attack 33's test to give ``cli adjust`` the
record the new flush writes. But the record is written once (``if_not_exists``): a stack that ran any of ecf6a7b to
c1bc76e when it was upgraded from a version before ecf6a7b keeps the ``since_r`` those wrote, the first hour sealed,
the oldest hour of the backlog. Nothing in 731b752 tells such a record apart or mends it, so every hour of the
backlog from two hours after it, written by the earlier deployment (kept 30 days, say), is still taken as kept the
new setting's 400: from day 30 to 90 the buyers' honest usage billed in those hours is refunded in full.
Invariant 2 (honest usage is never refunded); at stake: every unit billed in the backlog's hours, for every buyer,
here 100 units (1.00) used in eu-west-1 at 09:00 (attack 33's case, with the record ecf6a7b wrote)."""

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


def test_the_backlog_hour_ecf6a7b_recorded_as_first_sealed_is_not_taken_as_kept_by_the_new_setting() -> None:
    # eu-west-1 kept usage 30 days; its flush stopped sealing at 04:00; ecf6a7b (keeping 400 days) was deployed at
    # 15:00 and sealed the backlog from 04:00 on, recording since_r 04:00; 731b752 deployed later leaves it as it is
    world = TwoRegions(home=None, away=100)
    world.away = replace(world.away, metering=NothingSealed(RetentionFloor(HOUR - timedelta(hours=5), 400)))
    world.home.clock.set(HOUR + timedelta(days=40))  # type: ignore[attr-defined]
    world.home = replace(world.home, settings=replace(world.home.settings, audit_retention_days=400))
    world.target = replace(world.target, deps=world.home)
    out = io.StringIO()
    run_adjust(argparse.Namespace(send=True, json=True), world.target, Selection(HOUR, HOUR), out, lambda r, c: "")
    rows = json.loads(out.getvalue())["refunds"]
    # the buyer's 100 units at 09:00 were honest usage, expired on day 30: nothing of it is refunded
    assert sum((e.amount for e in world.book.refunded), Decimal(0)) == Decimal(0), [r["outcome"] for r in rows]
