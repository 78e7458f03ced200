"""Attack review 31: ``cli adjust`` tells whether an hour's usage is still kept from ``audit_retention_days`` as it is
set now, but each usage event and metering record was written with the expiry of the setting then (the usage store's
``expires_at``: received + retention; the ledger's likewise). A seller who raises it (30 days to the default 400, say,
to keep more for audit) has every hour between 30 and 90 days old (CloudTrail's history) with its usage and record gone
but called kept: what our own flush billed there, honest usage, shows in CloudTrail with nothing of ours to account for
it, over-billed in full, and is refunded (in every Region adjust now reads). Invariant 2 (honest usage is never
refunded); at stake: every unit billed in those hours, here 100 units (1.00) a buyer used in eu-west-1 40 days ago."""

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


def test_an_hour_whose_usage_expired_under_a_shorter_retention_is_never_refunded() -> None:
    # our flush billed a buyer's honest 100 units at 09:00 in eu-west-1 (CloudTrail keeps it 90 days); the stack kept
    # usage 30 days then, so the hour's usage events and record expired on day 30; it keeps 400 days now
    world = TwoRegions(home=None, away=100)
    # as eu-west-1's flush recorded it when it sealed the hour: kept 30 days
    world.away = replace(world.away, metering=NothingSealed(RetentionFloor(HOUR - timedelta(days=10), 30)))
    world.home.clock.set(HOUR + timedelta(days=40))  # type: ignore[attr-defined]
    world.home = replace(world.home, settings=replace(world.home.settings, audit_retention_days=400))
    world.target = replace(world.target, deps=world.home)
    out = io.StringIO()
    run_adjust(argparse.Namespace(send=True, json=True), world.target, Selection(HOUR, HOUR), out, lambda r, c: "")
    rows = json.loads(out.getvalue())["refunds"]
    # what was due there can no longer be told: nothing is refunded (it may be named, with why)
    assert sum((e.amount for e in world.book.refunded), Decimal(0)) == Decimal(0), rows


def test_an_hour_sealed_before_the_flush_recorded_its_retention_is_never_refunded_and_says_why() -> None:
    # sealed by a version that recorded nothing: its usage may have been kept as little as that version allowed
    world = TwoRegions(home=None, away=100)
    world.away = replace(world.away, metering=NothingSealed(RetentionFloor(HOUR + timedelta(hours=1), 400)))
    out = io.StringIO()
    run_adjust(argparse.Namespace(send=True, json=True), world.target, Selection(HOUR, HOUR), out, lambda r, c: "")
    (row,) = json.loads(out.getvalue())["refunds"]
    assert world.book.refunded == []
    # an earlier version may have kept it as little as a day (attacks 32, 33): never told over-billed
    assert row["outcome"].startswith("cannot refund: its usage may have been kept as little as"), row
