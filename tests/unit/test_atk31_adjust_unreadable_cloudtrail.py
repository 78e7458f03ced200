"""Attack review 31: a CloudTrail result ``cli adjust`` could not read (in any Region it now reads) is dropped in
silence: adjust says "nothing over-billed in these hours" and exits 0, where ``cli reconcile`` over the same hours
says the results were not checked and exits 1. What that result billed is exactly what adjust cannot see: an
outsider's record over-billed there is neither refunded nor named (invariant 4: an hour that cannot be refunded is
named with why). At stake: whatever the unread results billed (here an eu-west-1 record; nothing says so)."""

from __future__ import annotations

import argparse
import io
from dataclasses import replace

from functions.flush.audit import Unreadable
from operations.adjust_cli import run_adjust
from operations.queries import MeteringRegion, Selection
from tests.unit.test_adjust import HOUR
from tests.unit.test_adjust_other_regions import AWAY, TwoRegions
from tests.unit.test_reconcile import Trail


def test_a_cloudtrail_result_adjust_could_not_read_is_said_and_the_run_exits_1() -> None:
    world = TwoRegions(home=None, away=None)
    unread = Trail(unreadable=(Unreadable("ev-away-1", "no quantity in the usage record"),))
    target = replace(world.target, other_regions=lambda: [MeteringRegion(world.away, unread)])
    out = io.StringIO()
    code = run_adjust(argparse.Namespace(send=True, json=False), target, Selection(HOUR, HOUR), out, lambda r, c: "")
    assert world.book.refunded == []
    # as `cli reconcile` does: the results it could not check are said (where), and the run exits 1
    assert (code, AWAY in out.getvalue() or "could not be read" in out.getvalue()) == (1, True), out.getvalue()
