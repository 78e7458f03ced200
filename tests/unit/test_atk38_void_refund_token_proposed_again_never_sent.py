"""Attack 38 (on 28ed377, ``cli adjust --settle``'s void): a refund AWS never took is kept void, and its item stays
for ever; ``claim`` refuses a void item ("never sent again"). A refund of its hours is asked for "after" it, under a
token of its own, only while a claim still names it (``earlier_refunds``: ``retried``, from the hours' holders).
Where no claim does any more, its hours are proposed plainly, and the plain proposal of the same hours, invoice and
amount is the void refund's own token: its claim is refused (void), the row says "another adjust asked for one of
these hours meanwhile; run it again", and so on every run, for ever. ``_proposed`` (operations/adjust_cli.py) turns a
proposal whose token is a failed refund's into one asked for after it, but only for ``request_id in failed``: not for
a void one.

How the void refund's claims go: its replacement (09:00 and 10:00, after it) claims 09:00 over it, then finds 10:00
claimed by another operator's run over 10:00 alone, which read before the replacement was kept: the replacement is
released, its claim of 09:00 with it (``release``), and no claim of 09:00 is left.

In-memory fakes of our interfaces; the other run is played through ``InMemoryRefundClaims``' step hook, as the
simulator does. 09:00 (3.00) and 10:00 (1.50) over-billed: 4.50 is due back; 1.50 is refunded, 09:00 never."""

from __future__ import annotations

import argparse
import io
import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from operations.adjust_cli import run_adjust
from operations.queries import Selection
from tests.fakes import InMemoryRefundClaims
from tests.unit.test_adjust import HOUR, SETTLED
from tests.unit.test_adjust_other_regions import TwoRegions
from tests.unit.test_atk37_settle_forgets_a_refund_whose_claims_a_run_wrote_after_its_sent import clock_of
from tests.unit.test_atk37_settle_forgets_the_claims_of_a_legacy_refund_a_run_sent_meanwhile import (
    TEN,
    settle,
    two_hours,
)


def adjust(world: TwoRegions, since: datetime, until: datetime) -> tuple[int, list[dict[str, Any]]]:
    out = io.StringIO()
    code = run_adjust(
        argparse.Namespace(send=True, json=True), world.target, Selection(since, until), out, lambda rows, c: ""
    )
    return code, list(json.loads(out.getvalue())["refunds"])


def test_a_void_refund_whose_hours_no_claim_names_any_more_leaves_them_unrefunded_for_ever() -> None:
    world, aws = two_hours()
    between: dict[str, object] = {}

    def step(operation: str, phase: str) -> None:
        run = between.pop("run", None) if (operation, phase) == ("put_item", "before") else None
        if callable(run):
            run()

    world.claims = claims = InMemoryRefundClaims(step)
    world.adjust(until=HOUR)  # the refund of 09:00 (3.00): AWS down, never taken
    (void,) = claims.unanswered()
    clock_of(world).set(SETTLED + timedelta(days=1, hours=1))
    (row,) = settle(world)
    assert row["outcome"].startswith("AWS never took it; kept: void"), row
    aws.down = False

    # the replacement of 09:00 with 10:00 beside it; as it is kept, another operator's run over 10:00 alone (it read
    # before) claims 10:00 and AWS takes it
    between["run"] = lambda: adjust(world, TEN, TEN)
    world.adjust(until=TEN)
    assert "run" not in between  # the other run did run in between
    assert aws.taken_amount() == Decimal("1.50")

    rows: list[dict[str, Any]] = []
    for _ in range(3):
        _, rows = world.adjust(until=TEN)

    # AWS never took the void refund: 09:00's 3.00 is refunded once, 10:00's 1.50 once: 4.50
    shown = f"{aws.taken_amount()} refunded for 4.50 over-billed; void {void.entry.client_token}; last run: {rows}"
    assert aws.taken_amount() == Decimal("4.50"), shown
