"""Attack review 32: the refund an earlier version sent for an hour whose usage had expired (attack 31: it judged
"kept" by ``audit_retention_days`` as set then, raised from 30 to 400 days, and took honest usage for over-billing)
is sent again, "as it was", by the upgraded ``cli adjust`` where its answer never came (the call never reached AWS):
the upgraded version says of that very hour "how long its usage was kept is not on record: what was due cannot be
told", yet resends the refund worked out from it, unchecked, and AWS takes it. A resend of a refund AWS may never have
received is a new refund to AWS; where the hours it covers can no longer be told over-billed, it is held, never sent.
Invariant 2 (honest usage is never refunded), on an upgrade whose earlier version left a refund unanswered (invariant
1's upgrade clause); at stake: the whole refund, here 1.00 of honest usage (100 units a buyer used in eu-west-1)."""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from functions.flush.records import RetentionFloor
from operations.adjust_cli import run_adjust
from operations.agreement_billing import AgreementBillingUnavailable, RefundEntry, RefundOutcome
from operations.queries import Selection
from tests.unit.test_adjust import HOUR, Book
from tests.unit.test_adjust_other_regions import NothingSealed, TwoRegions


class Unreachable(Book):
    """The Agreement Service, its next call never reaching AWS (nothing taken)."""

    unreachable = True

    def refund(self, entries: list[RefundEntry]) -> list[RefundOutcome]:
        if self.unreachable:
            self.unreachable = False
            raise AgreementBillingUnavailable("EndpointConnectionError")
        return super().refund(entries)


def test_an_unanswered_refund_of_hours_no_longer_told_over_billed_is_never_resent() -> None:
    # our flush billed a buyer's honest 100 units at 09:00 in eu-west-1; the stack kept usage 30 days then, and the
    # seller raised it to 400: by day 40 the hour's usage is gone, CloudTrail still shows the 100 units billed
    world = TwoRegions(home=None, away=100)
    world.book = book = Unreachable()
    world.home.clock.set(HOUR + timedelta(days=40))  # type: ignore[attr-defined]
    world.home = replace(world.home, settings=replace(world.home.settings, audit_retention_days=400))
    world.target = replace(world.target, deps=world.home)
    out = io.StringIO()
    selection = Selection(HOUR, HOUR)
    # the earlier version judged the hour kept by the setting (as a floor recorded long ago, 400 days, says): it
    # proposed the whole 1.00, claimed the hour, kept the refund, and its call never reached AWS
    with pytest.raises(AgreementBillingUnavailable):
        run_adjust(argparse.Namespace(send=True, json=True), world.target, selection, out, lambda r, c: "")
    assert book.refunded == []
    # upgraded: eu-west-1's flush records how long usage is kept from a later hour on; 09:00 cannot be told
    world.away = replace(world.away, metering=NothingSealed(RetentionFloor(HOUR + timedelta(days=39), 400)))
    out = io.StringIO()
    run_adjust(argparse.Namespace(send=True, json=True), world.target, selection, out, lambda r, c: "")
    rows = json.loads(out.getvalue())["refunds"]
    assert sum((e.amount for e in book.refunded), Decimal(0)) == Decimal(0), [r["outcome"] for r in rows]
