"""``cli adjust`` refunds what AWS over-billed in every Region that meters (cdk.json ``regions``), as ``cli reconcile``
reads them: each Region's metering is billed on the same agreements' invoices, so an outsider's record sent in
eu-west-1 is over-billing as much as one sent in us-east-1 (it read the main Region only). An hour of another Region
is its own hour to refund once (Marketplace bills each Region's hour on its own), claimed under a key naming the
Region; the main Region's keys are as before, so claims kept by an earlier version still hold."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import pytest

from functions.flush.audit import TrailResult
from functions.flush.records import MeteringEntry, RetentionFloor
from functions.settings import Settings
from operations.adjust_cli import run_adjust
from operations.queries import MeteringRegion, OperationsDeps, Selection
from operations.target import Target, TargetError
from tests.fakes import LONG_KEPT, InMemoryRefundClaims, InMemoryUsage
from tests.unit.test_adjust import AGREEMENT, HOUR, LICENCE, PRODUCT, SETTLED, Book, deps
from tests.unit.test_estimates import Ledger
from tests.unit.test_reconcile import Trail

AWAY = "eu-west-1"


class NothingSealed(Ledger):
    """A Region's metering table with every hour sealed and no record of ours in it, sealed keeping usage as
    ``floor`` says."""

    def __init__(self, floor: RetentionFloor = LONG_KEPT) -> None:
        self.floor = floor

    def retention_floor(self) -> RetentionFloor:
        return self.floor

    def next_hour_to_seal(self) -> datetime | None:
        return SETTLED

    def records_of_hour(self, hour: datetime) -> Iterator[MeteringEntry]:
        return iter(())

    def sealed_in_dry_run(self, hour: datetime) -> bool:
        return False

    def modes_kept_since(self) -> datetime | None:
        return None


def outsiders(units: int, record_id: str) -> TrailResult:
    """A record someone else sent for our buyer's hour, billed: no usage of ours in it."""
    return TrailResult(LICENCE, "111100000001", "api_calls", HOUR, Decimal(units), "Success", record_id, SETTLED)


class TwoRegions:
    def __init__(self, *, home: int | None, away: int | None, away_trail: bool = True) -> None:
        base = deps()
        self.home = OperationsDeps(base.settings, base.customers, InMemoryUsage(), NothingSealed(), base.clock)
        self.away = OperationsDeps(
            Settings(region=AWAY, products=(PRODUCT,)), base.customers, InMemoryUsage(), NothingSealed(), base.clock
        )
        self.book = Book()
        self.claims = InMemoryRefundClaims()
        self.home_trail = home_trail = Trail(*([outsiders(home, "m-home")] if home else []))
        away_reader = Trail(*([outsiders(away, "m-away")] if away else [])) if away_trail else None
        self.target = Target(
            name="two Regions",
            deps=self.home,
            run_flush=lambda progress: {},
            contacts=cast(Any, None),
            trail=home_trail,
            other_regions=lambda: [MeteringRegion(self.away, away_reader)],
            billing=lambda: cast(Any, self.book),
            refund_claims=lambda: cast(Any, self.claims),
            keep_notice=base.customers.lifecycle_store.record_notice,  # type: ignore[attr-defined]
        )

    def adjust(self, until: datetime = HOUR) -> tuple[int, list[dict[str, Any]]]:
        out = io.StringIO()
        code = run_adjust(
            argparse.Namespace(send=True, json=True), self.target, Selection(HOUR, until), out, lambda rows, c: ""
        )
        return code, json.loads(out.getvalue())["refunds"]


def test_an_hour_over_billed_in_another_region_is_refunded_on_the_agreements_invoice_once() -> None:
    world = TwoRegions(home=None, away=300)
    code, rows = world.adjust()
    assert code == 0, rows
    assert [(e.agreement_id, e.amount) for e in world.book.refunded] == [(AGREEMENT, Decimal("3.00"))]
    assert [r["over_billed"][0]["region"] for r in rows] == [AWAY]
    assert AWAY in world.book.refunded[0].description
    # run again: the same refund (its client token: AWS takes it once), never a second one of the hour
    world.adjust()
    assert {e.client_token for e in world.book.refunded} == {world.book.refunded[0].client_token}


def test_a_wider_window_with_one_more_hour_leaves_the_other_regions_refunded_hour_out() -> None:
    world = TwoRegions(home=None, away=300)
    world.adjust()
    later = outsiders(150, "m-later")
    world.home_trail.results.append(TrailResult(**{**later.__dict__, "hour": HOUR + timedelta(hours=1)}))
    _, rows = world.adjust(until=HOUR + timedelta(hours=1))
    first, second = world.book.refunded
    # the eu-west-1 hour is named refunded before (its token); the new hour alone is refunded: 3.00 + 1.50 for 4.50
    assert (first.amount, second.amount) == (Decimal("3.00"), Decimal("1.50"))
    assert any(r["outcome"] == f"cannot refund: refunded before (client token {first.client_token})" for r in rows)


def test_one_hour_over_billed_in_both_regions_is_two_hours_refunded_in_one_refund() -> None:
    world = TwoRegions(home=200, away=300)
    world.adjust()
    (refund,) = world.book.refunded
    assert (refund.agreement_id, refund.amount) == (AGREEMENT, Decimal("5.00"))
    world.adjust()
    assert {e.client_token for e in world.book.refunded} == {refund.client_token}


def test_the_main_regions_hour_keeps_its_key_so_an_earlier_versions_claim_still_holds() -> None:
    world = TwoRegions(home=200, away=None)
    world.adjust()
    assert f"{PRODUCT.code}#{LICENCE}#api_calls#{HOUR:%Y-%m-%dT%H}" in world.claims.claims


def test_a_region_without_cloudtrail_to_read_is_named_and_nothing_is_sent() -> None:
    world = TwoRegions(home=200, away=300, away_trail=False)
    with pytest.raises(TargetError, match=AWAY):
        world.adjust()
    assert world.book.refunded == []
