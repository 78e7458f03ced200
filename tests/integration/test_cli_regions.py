"""`cli usage`, `cli reconcile` and `cli report` on a deployment that meters in two Regions (cdk.json `regions`):
the main stack's tables and a metering stack's of eu-west-1 beside them on DynamoDB Local (its own usage and metering
tables, the main stack's customers table standing for its replica, as `make run REGIONS=eu-west-1` lays them out),
and the emulator billing, and logging CloudTrail's history, per Region. Each reads every Region, each row naming its
own."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions.settings import Dimension, Product, Settings
from local.marketplace.testing import EmulatorHandle
from operations.target import local_target
from tests.operator_world import OperatorWorld, regional_stack

# the month's report reads every hour of the month up to now: a world at its start keeps it short
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PRODUCT = Product(code="regions-product", name="Regions", dimensions=(Dimension(name="api_calls"),))
ACCOUNTS = ("400000000001", "400000000002")
OTHER = "eu-west-1"


@pytest.fixture
def world(settings: Settings, marketplace: EmulatorHandle, dynamodb: Any) -> Iterator[OperatorWorld]:
    main = replace(
        settings,
        products=(PRODUCT,),
        usage_shards=2,
        marketplace_endpoint=marketplace.url,
        other_metering_regions=(OTHER,),
    )
    with regional_stack(main, OTHER, dynamodb) as regional:
        found = OperatorWorld.with_buyers(main, marketplace, dynamodb, PRODUCT, ACCOUNTS, START)
        found.regions = (regional,)
        yield found


def _flush_everywhere(world: OperatorWorld) -> None:
    for region in (world.settings, *world.regions):
        local_target(region, credentials={}, clock=world.clock).run_flush(lambda _: None)


def test_usage_reconcile_and_report_read_every_region_each_row_naming_its_own(
    world: OperatorWorld, tmp_path: Path
) -> None:
    [regional] = world.regions
    # Given a buyer's usage in both Regions in 09:00, flushed in each; and, in eu-west-1 only, usage of 10:00
    # whose hour is closed but not flushed yet
    world.use(0, "api_calls", 5, "home-1")
    world.use(0, "api_calls", 3, "away-1", region=regional)
    world.use(1, "api_calls", 2, "away-2", region=regional)
    world.move_to(START + timedelta(hours=1, minutes=10))
    _flush_everywhere(world)
    world.use(1, "api_calls", 4, "away-3", region=regional)
    world.move_to(START + timedelta(hours=2, minutes=10))
    billed = sorted(
        (r["region"], r["customer_aws_account_id"], r["quantity"]) for r in world.marketplace.admin.ledger()
    )
    assert billed == [(OTHER, ACCOUNTS[0], "3"), (OTHER, ACCOUNTS[1], "2"), ("us-east-1", ACCOUNTS[0], "5")]
    # When the operator asks for the usage (a failing test before: the main Region's alone)
    status, out, err = world.cli("usage", "--since", "2026-12-01T09:00Z", "--json")
    assert status == 0, err
    assert [(r["hour"][:13], r["region"], r["account"], r["quantity"], r["status"]) for r in json.loads(out)] == [
        ("2026-12-01T09", "us-east-1", ACCOUNTS[0], "5", "sent"),
        ("2026-12-01T09", OTHER, ACCOUNTS[0], "3", "sent"),
        ("2026-12-01T09", OTHER, ACCOUNTS[1], "2", "sent"),
        ("2026-12-01T10", OTHER, ACCOUNTS[1], "4", "unsealed"),
    ]
    status, out, err = world.cli("usage", "--since", "2026-12-01T09:00Z")
    assert status == 0, err
    assert out.splitlines()[0].split()[:3] == ["HOUR", "REGION", "PRODUCT"]
    assert f"Regions read: us-east-1, {OTHER}" in out
    # and reconciles the hours (a failing test before: eu-west-1's billed and unsent hours were not there)
    status, out, err = world.cli("reconcile", "--from", "2026-12-01T09:00Z", "--to", "2026-12-01T10:00Z", "--json")
    report = json.loads(out)
    assert (status, report["regions"]) == (1, ["us-east-1", OTHER]), err
    sides = [
        (r["hour"][:13], r["region"], r["account"], r["sealed"], r["cloudtrail"], r["mismatch"]) for r in report["rows"]
    ]
    assert sides == [
        ("2026-12-01T09", "us-east-1", ACCOUNTS[0], "5", "5", None),
        ("2026-12-01T09", OTHER, ACCOUNTS[0], "3", "3", None),
        ("2026-12-01T09", OTHER, ACCOUNTS[1], "2", "2", None),
        ("2026-12-01T10", OTHER, ACCOUNTS[1], None, None, "not yet sent"),
    ]
    # and writes the month's report (a failing test before: eu-west-1's records and its mismatch were not there)
    page = tmp_path / "report.html"
    status, out, err = world.cli("report", "--month", "2026-12", "--html", str(page))
    assert (status, out) == (0, f"wrote {page}: 3 records billed, 1 mismatches\n"), err
    html = page.read_text()
    assert f"Regions us-east-1, {OTHER}." in html
    [mismatch] = re.findall(r'<tr data-testid="mismatch">(.*?)</tr>', html)
    assert re.findall(r"<td[^>]*>(.*?)</td>", mismatch)[:3] == ["2026-12-01T10:00Z", OTHER, ACCOUNTS[1]]
    # and once eu-west-1 has flushed its hour too, every Region agrees
    _flush_everywhere(world)
    world.move_to(START + timedelta(hours=2, minutes=40))
    status, out, err = world.cli("reconcile", "--from", "2026-12-01T09:00Z", "--to", "2026-12-01T10:00Z")
    assert status == 0, out + err
    assert out.splitlines()[0].split()[:2] == ["HOUR", "REGION"]
    assert f"Regions read: us-east-1, {OTHER}" in out
