"""`cli reconcile` on the local stack as `make run` starts it, after a buyer life with injected faults:
zero mismatches where everything was billed (a lost answer and a throttle included), and the record a refused call
left unbilled named, with exit status 1."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.marketplace.admin import AdminClient
from operations.cli import main as cli
from tests.e2e.test_buyer_life import (  # noqa: F401  (stack: the fixture)
    BUYER,
    RunningStack,
    eventually,
    register_in_a_browser,
    stack,
    usage_event,
)

pytestmark = pytest.mark.browser


def reconcile(running: RunningStack, since: str, until: str) -> tuple[int, dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    status = cli(
        ["reconcile", "--from", since, "--to", until, "--json", "--run-file", str(running.run_file)],
        out=out,
        err=err,
        environ={},
    )
    assert status in (0, 1), err.getvalue()
    return status, json.loads(out.getvalue())


def test_reconcile_on_make_runs_stack_after_faults(stack: RunningStack) -> None:  # noqa: F811
    admin = AdminClient(stack.marketplace_url)
    register_in_a_browser(stack)
    [customer] = eventually(
        lambda: stack.cli("customers"), lambda rows: [r["state"] for r in rows] == ["active"], "customer state"
    )
    key = {"x-api-key": stack.api_key}
    # Given usage in one hour, flushed through a lost answer and a throttle (both sent again, identical)
    first = datetime.now(UTC)
    stack.post(
        "/usage", {"events": [usage_event("r1", customer, 5, first), usage_event("r2", customer, 6, first)]}, key
    )
    stack.post("/_local/clock", {"advance_seconds": 3600 + 600})
    admin.queue_errors(
        {"operation": "BatchMeterUsage", "code": "LostResponse"},
        {"operation": "BatchMeterUsage", "code": "ThrottlingException"},
    )
    flushed = stack.post("/_local/flush", {})
    assert (flushed["succeeded"], flushed["failed"], flushed["left_pending"]) == (1, {}, 0)
    hour = first.strftime("%Y-%m-%dT%H:00Z")
    # When the operator reconciles it, Then nothing disagrees, and CloudTrail shows what the ledger holds
    status, report = reconcile(stack, hour, hour)
    assert (status, report["mismatches"]) == (0, 0), report
    [row] = report["rows"]
    [billed] = admin.ledger()
    assert (row["account"], row["accepted"], row["sealed"], row["cloudtrail"]) == (BUYER, "11", "11", "11")
    assert (row["metering_record_id"], billed["quantity"]) == (billed["metering_record_id"], "11")
    # Given the next hour's usage, refused by Marketplace when flushed (a licence fault): parked, never billed
    second = datetime.fromtimestamp(first.timestamp() + 3600 + 600, UTC)  # the app's clock, moved
    stack.post("/usage", {"events": [usage_event("r3", customer, 4, second)]}, key)
    # past the end of that hour and the flush's grace, wherever in its hour the test began
    closed = second.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1, minutes=10)
    stack.post("/_local/clock", {"advance_seconds": math.ceil((closed - second).total_seconds())})
    admin.queue_errors({"operation": "BatchMeterUsage", "code": "InvalidLicenseException"})
    assert stack.post("/_local/flush", {})["failed"] == {"InvalidLicenseException": 1}
    # When the operator reconciles both hours, Then it exits 1 naming that record and why; the first still agrees
    status, report = reconcile(stack, hour, second.strftime("%Y-%m-%dT%H:00Z"))
    assert status == 1
    assert [(r["hour"], r["mismatch"]) for r in report["rows"]] == [
        (hour, None),
        (second.strftime("%Y-%m-%dT%H:00Z"), "failed"),
    ]
    assert "InvalidLicenseException" in report["rows"][1]["detail"]
