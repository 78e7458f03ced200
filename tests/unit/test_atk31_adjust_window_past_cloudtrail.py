"""Attack review 31: ``cli adjust --from`` further back than CloudTrail's 90 days of event history reads no CloudTrail
at all (``reconcile``: ``cloudtrail_checked`` is False for the whole window), so every over-billed hour of the window,
even yesterday's, is missed: adjust says "nothing over-billed in these hours", sends nothing and exits 0. The operator
who widened the window to catch up is told there is nothing to refund (invariant 4: an hour that cannot be refunded is
named with why; bad operator input gets a clear error naming the option). At stake: every refund of the window, here
the 3.00 AWS over-billed in eu-west-1 and the 2.00 in the main Region, both well within CloudTrail's 90 days."""

from __future__ import annotations

import argparse
import io
import json
from datetime import timedelta
from decimal import Decimal

from operations.adjust_cli import run_adjust
from operations.queries import Selection
from operations.target import TargetError
from tests.unit.test_adjust import HOUR
from tests.unit.test_adjust_other_regions import TwoRegions


def test_a_window_reaching_past_cloudtrails_history_still_refunds_or_names_its_recent_over_billed_hours() -> None:
    world = TwoRegions(home=200, away=300)
    out = io.StringIO()
    refused: TargetError | None = None
    code = None
    try:
        code = run_adjust(
            argparse.Namespace(send=True, json=True),
            world.target,
            Selection(HOUR - timedelta(days=100), HOUR),
            out,
            lambda rows, columns: "",
        )
    except TargetError as error:  # refusing the window is fine too, if it names the option
        refused = error
    if refused is not None:
        assert ("--from" in str(refused), world.book.refunded) == (True, [])
        return
    rows = json.loads(out.getvalue())["refunds"]
    refunded = sum((e.amount for e in world.book.refunded), Decimal(0))
    named = [h for r in rows for h in r["over_billed"] if h.get("hour") == f"{HOUR:%Y-%m-%dT%H}:00Z"]
    # AWS over-billed 2.00 + 3.00 in this hour, 2 days ago: refunded, or at least each hour named with why
    assert refunded == Decimal("5.00") or (len(named) == 2 and code == 1), (code, rows)
