"""Attack review 32: a refund answered INTERNAL_FAILURE is kept since ecf6a7b, and its outcome says "kept: the next
adjust --send sends it again as it was"; but a kept refund is read only by a run whose window holds one of its
over-billed hours. The operator's next run, over the next window (the default ``--from 7d --to 25h`` a day later,
or here the next hour's), neither sends it nor names it, and exits 0: "nothing over-billed". Where AWS did not take it
(an internal failure is one the model says may happen), its hours are never refunded and nothing says so.
Invariant 4 (nothing is lost: no hour stuck for ever without a reason shown) and 5 (the outcome's promise is
false); at stake: the whole refund, here 3.00 over-billed in eu-west-1."""

from __future__ import annotations

import argparse
import io
import json
from datetime import timedelta
from decimal import Decimal

from functions.flush.audit import TrailResult
from operations.adjust_cli import run_adjust
from operations.queries import Selection
from tests.unit.test_adjust import HOUR
from tests.unit.test_adjust_other_regions import TwoRegions, outsiders
from tests.unit.test_atk31_resent_refund_refused_frees_taken_hours import Agreements


def test_a_kept_refund_is_sent_again_or_named_by_the_next_run_whatever_its_window() -> None:
    world = TwoRegions(home=None, away=300)  # eu-west-1, 09:00: 3.00 over-billed
    world.book = agreements = Agreements(fail_next=True)
    code, rows = world.adjust()  # answered INTERNAL_FAILURE: AWS refunded nothing
    assert (code, agreements.refunded) == (1, []), rows
    assert rows[0]["outcome"].endswith("kept: the next adjust --send sends it again as it was"), rows
    later = HOUR + timedelta(hours=1)  # the next run's window: the hours after those the last one read
    world.home_trail.results.append(TrailResult(**{**outsiders(150, "m-later").__dict__, "hour": later}))
    out = io.StringIO()
    code = run_adjust(
        argparse.Namespace(send=True, json=True), world.target, Selection(later, later), out, lambda r, c: ""
    )
    rows = json.loads(out.getvalue())["refunds"]
    resent = Decimal("3.00") in [e.amount for e in agreements.refunded]
    named = any(r["amount"] == "3" for r in rows)
    # the kept refund is sent again as the outcome said, or at least named (and the run not called a success)
    assert resent or (named and code == 1), (code, [(e.amount, e.description) for e in agreements.refunded], rows)
