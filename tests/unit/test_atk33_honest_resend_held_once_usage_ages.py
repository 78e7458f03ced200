"""Attack review 33: since 3030f07 a refund whose answer never came is held, never sent again, where one of its
hours' usage may have expired *now* (``unkept`` goes by the run's clock). That was meant for a refund an earlier
version worked out from an hour already expired (attack 32); it holds as well every refund this version worked out
while the hour was kept, whose call failed, once the operator's next run comes after the hour's retention: the
refund was right when made (it is stored with when it was asked, ``at``), yet it is shown "held ... what was due
cannot be told", never sent, and every run exits 1 for ever with no way to send it. With ``audit_retention_days`` at 3
(anything from 2 allowed), or an hour in the 2-day band after an upgrade (attack 32's rule), a day's wait does it.
Invariant 4 (nothing refundable stuck for ever; the reason shown is false) and 5 (exit 1 for ever); at stake: the
whole refund, here 3.00 over-billed in eu-west-1."""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from operations.adjust_cli import run_adjust
from operations.agreement_billing import AgreementBillingUnavailable
from operations.queries import Selection
from tests.unit.test_adjust import HOUR, SETTLED
from tests.unit.test_adjust_other_regions import TwoRegions
from tests.unit.test_atk32_upgrade_resends_unkept_refund import Unreachable


def test_a_refund_worked_out_while_its_hour_was_kept_is_sent_again_after_its_usage_expires() -> None:
    world = TwoRegions(home=None, away=300)  # eu-west-1, 09:00: 3.00 over-billed by outsiders
    world.book = book = Unreachable()
    world.home = replace(world.home, settings=replace(world.home.settings, audit_retention_days=3))
    world.target = replace(world.target, deps=world.home)
    selection = Selection(HOUR, HOUR)
    # two days on, the hour final and its usage kept another day: the refund is worked out, kept, and its call fails
    with pytest.raises(AgreementBillingUnavailable):
        run_adjust(argparse.Namespace(send=True, json=True), world.target, selection, io.StringIO(), lambda r, c: "")
    assert book.refunded == []
    world.home.clock.set(SETTLED + timedelta(days=1))  # type: ignore[attr-defined]  # the operator's next daily run
    out = io.StringIO()
    code = run_adjust(argparse.Namespace(send=True, json=True), world.target, selection, out, lambda r, c: "")
    rows = json.loads(out.getvalue())["refunds"]
    # the refund as it was, worked out while the hour was kept: sent again, and the run a success
    assert ([e.amount for e in book.refunded], code) == ([Decimal("3.00")], 0), [r["outcome"] for r in rows]
