"""Attack review 32: since ecf6a7b ``cli adjust`` calls every hour before the first one the upgraded flush sealed
(``since_r``) "not on record: what was due cannot be told", for ever. An hour over-billed in the day before the
upgrade could not be refunded by the earlier version (not final until 25 hours after it), and is never refundable
after it, though its usage is surely still kept then: no ``audit_retention_days`` keeps usage fewer than 2 days
(``functions.settings``), so an hour between 25 hours and 2 days old has it whatever the setting was. Every upgrade
loses what outsiders over-billed in the day before it, in each Region as its stack is upgraded.
Invariant 4 (an hour that can be refunded eventually is); at stake: all of it, here 3.00 over-billed in eu-west-1
at 09:00, an hour before the upgraded flush first sealed.

Attack 33 showed the premise does not hold for an upgrade from before review 27 (a setting of 1 day was allowed), so
such an hour cannot be told over-billed; what this test now holds is that every run says why (invariant 5)."""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

from functions.flush.records import RetentionFloor
from functions.usage.model import HOUR as ONE_HOUR
from operations.adjust_cli import run_adjust
from operations.queries import Selection
from tests.fakes import LONG_KEPT
from tests.unit.test_adjust import HOUR
from tests.unit.test_adjust_other_regions import NothingSealed, TwoRegions


def _adjust(world: TwoRegions) -> list[dict[str, Any]]:
    out = io.StringIO()
    run_adjust(argparse.Namespace(send=True, json=True), world.target, Selection(HOUR, HOUR), out, lambda r, c: "")
    rows: list[dict[str, Any]] = json.loads(out.getvalue())["refunds"]
    return rows


def test_an_hour_over_billed_the_day_before_an_upgrade_is_refunded_once_final() -> None:
    world = TwoRegions(home=None, away=300)  # eu-west-1, 09:00: an outsider's record billed, 3.00
    clock: Any = world.home.clock
    # 10:20, the earlier version (it judged by the setting, as a floor recorded long ago does): not final yet
    world.away = replace(world.away, metering=NothingSealed(LONG_KEPT))
    clock.set(HOUR + ONE_HOUR + timedelta(minutes=20))
    (row,) = _adjust(world)
    assert row["outcome"].startswith("cannot refund: what was due in it is not final"), row
    # 10:30 the upgrade is deployed; eu-west-1's flush first seals 10:00 at 11:05
    world.away = replace(world.away, metering=NothingSealed(RetentionFloor(HOUR + ONE_HOUR, 400)))
    rows = []
    for age in (26, 36, 46):  # final from 25 hours on; kept 2 days at the least, whatever the setting
        clock.set(HOUR + age * ONE_HOUR)
        rows += _adjust(world)
    # attack 33: the version an upgrade replaces may predate review 27, which allowed 1 day: the hour's usage may be
    # gone before it is final, so it is never told over-billed; each run names why (it was silent before 3030f07)
    assert world.book.refunded == []
    assert all("as little as an earlier version allowed (a day)" in r["outcome"] for r in rows), rows
