"""Attack 36 (on 6a17b09, ``cli adjust --settle``): a held refund AWS never took is freed by ``release``, which removes
the kept refund first and its claims after it. A settle run stopped between the two (DynamoDB throttling a delete past
the SDK's retries, the operator's Ctrl-C) leaves the hour's claim under a token with no refund kept: no settle run sees
it again (it reads the refunds kept without an answer, and there is none), and every ``adjust`` names the hour
"refunded before" by that token, for ever. The buyer's over-billed hour, which no refund took, is never refunded.

In-memory fakes of our interfaces: 09:00 (3.00) and 10:00 (1.50) over-billed; 10:00 refunded by an earlier version's
refund kept under its former key; a second refund of both, kept, never taken by AWS, held (10:00 is the other's)."""

from __future__ import annotations

import argparse
import io
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from functions.clock import ManualClock
from functions.flush.audit import TrailResult
from functions.storage.errors import StorageError
from operations.adjust_cli import run_settle
from operations.agreement_billing import BillingAdjustment, RefundEntry
from operations.refund_claims import AskedRefund
from tests.fakes import InMemoryRefundClaims
from tests.unit.test_adjust import AGREEMENT, HOUR, LICENCE, PRODUCT, Book
from tests.unit.test_adjust_other_regions import TwoRegions, outsiders

TEN = HOUR + timedelta(hours=1)
KEPT = HOUR + timedelta(hours=26)  # when the held refund was kept: both hours final


class NothingTaken(Book):
    """The invoice, and AWS's adjustments of it: none like the held refund (AWS never took it)."""

    def adjustments_like(self, entry: RefundEntry) -> list[BillingAdjustment]:
        return []


def _key(hour: Any, product: str = PRODUCT.code) -> str:
    return f"{product}#{LICENCE}#api_calls#{hour:%Y-%m-%dT%H}"


def _entry(token: str, amount: str) -> RefundEntry:
    return RefundEntry(AGREEMENT, "2028746221", Decimal(amount), "USD", "INCORRECT_METERING", "Over-billed", token)


def _settle(world: TwoRegions) -> list[dict[str, Any]]:
    out = io.StringIO()
    run_settle(argparse.Namespace(send=True, json=True), world.target, out, lambda rows, columns: "")
    return list(json.loads(out.getvalue())["refunds"])


def test_a_settle_stopped_between_the_refund_and_its_claims_never_leaves_an_hour_held_for_ever() -> None:
    world = TwoRegions(home=300, away=None)  # 09:00: 3.00 over-billed
    later = outsiders(150, "m-later")  # 10:00: 1.50 over-billed
    world.home_trail.results.append(TrailResult(**{**later.__dict__, "hour": TEN}))
    world.book = NothingTaken()
    stop: dict[str, int] = {"deletes": 0}

    def step(operation: str, phase: str) -> None:
        # since attack 37's fix settle keeps a refund AWS never took void in one write, its claims left as they are:
        # stopped at that write (or at any delete, were there one), nothing is left half done
        if operation in ("delete_item", "update_item") and phase == "before" and stop["deletes"] >= 0:
            stop["deletes"] += 1
            if stop["deletes"] == 1:
                raise StorageError("throttled", code="ProvisionedThroughputExceededException", retryable=True)

    world.claims = claims = InMemoryRefundClaims(step)
    # 10:00 refunded by an earlier version's refund, claimed under its former key (no product), AWS's answer kept
    claims.claims[_key(TEN, "")] = ("adjust-earlier", KEPT)
    claims.asked["adjust-earlier"] = AskedRefund(
        _entry("adjust-earlier", "1.50"), (_key(TEN, ""),), "2026-11", "150", "ba-earlier", KEPT
    )
    # the held refund of both hours, kept and claimed under their keys now, never taken
    held = AskedRefund(_entry("adjust-held", "4.50"), (_key(HOUR), _key(TEN)), "2026-11", "450", at=KEPT)
    assert claims.claim(held, KEPT)
    clock = world.home.clock
    assert isinstance(clock, ManualClock)
    clock.set(KEPT + timedelta(days=1, hours=1))  # a day after: none listed means never taken

    with pytest.raises(StorageError):
        _settle(world)  # stopped midway
    stop["deletes"] = -1
    _settle(world)  # run again, to the end
    for _ in range(2):
        world.adjust(until=TEN)

    # 09:00 was refunded by no refund AWS took: refunded now, once (3.00); 10:00 stays the earlier refund's
    assert [e.amount for e in world.book.refunded] == [Decimal("3.00")], world.claims.claims
