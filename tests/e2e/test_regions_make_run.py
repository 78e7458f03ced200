"""Two Regions on one machine: `make run`'s stack and a metering stack of eu-west-1 beside it (`python -m
local.region`, as `make run REGIONS=eu-west-1` starts it), over one customers table. One buyer's usage is billed in
both, each in its own Region of the emulator's ledger, exactly once each."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from local.loopback import read_banner
from local.marketplace.admin import AdminClient
from tests.e2e.local_stack import launched
from tests.e2e.test_buyer_life import RunningStack, eventually, post_json, register_in_a_browser, usage_event

pytestmark = pytest.mark.browser
REGION = "eu-west-1"


@pytest.fixture
def two_regions(tmp_path: Path) -> Iterator[tuple[RunningStack, str, str]]:
    """The local stack started as `make run REGIONS=eu-west-1` starts it; the Region's usage API and key."""
    run_file = tmp_path / "local.json"
    with launched(run_file, "--flush-interval=0", f"--region-stack={REGION}") as started:
        assert started.process.stdout is not None
        regional = read_banner(started.process.stdout)  # printed after the main stack's
        main_key = re.search(r"x-api-key: (\S+?)\)", started.banner)
        found = re.search(r"Usage API\s+(http://\S+)/usage\s+\(x-api-key: (\S+?)\)", regional)
        assert main_key, started.banner
        assert found, regional
        main = RunningStack(
            started.process,
            started.url("Usage API").removesuffix("/usage"),
            started.url("Marketplace emulator"),
            main_key.group(1),
            run_file,
        )
        yield main, found.group(1), found.group(2)
    # the stacks' logs, shown by pytest only where the test failed: what each function did, and when
    print(started.output[-20000:])
    # Ctrl-C stops the Region's stack with the main one, cleanly
    assert started.process.returncode == 0, started.output
    assert f"Regional metering stack {REGION}" in regional


def test_one_buyers_usage_is_billed_in_each_region_where_it_happened(
    two_regions: tuple[RunningStack, str, str],
) -> None:
    stack, regional_url, regional_key = two_regions
    admin = AdminClient(stack.marketplace_url)
    # Given a buyer registered through the main stack (us-east-1), and a metering stack in eu-west-1 beside it
    register_in_a_browser(stack)
    [customer] = eventually(
        lambda: stack.cli("customers"), lambda rows: [r["state"] for r in rows] == ["active"], "customer state"
    )
    # When the buyer's usage happens in both Regions, in the same hour, with the same event ids
    now = datetime.now(UTC)
    stack.post("/usage", {"events": [usage_event("e1", customer, 5, now)]}, {"x-api-key": stack.api_key})
    events = [usage_event("e1", customer, 3, now), usage_event("e2", customer, 4, now)]
    status, answer = post_json(f"{regional_url}/usage", {"events": events}, {"x-api-key": regional_key})
    assert (status, answer["accepted"]) == (200, 2), answer
    # and a stranger's usage is refused there as at home: the Region reads the same buyers
    stranger = {**usage_event("e3", customer, 1, now), "customer_aws_account_id": "999999999999"}
    status, refused = post_json(f"{regional_url}/usage", {"events": [stranger]}, {"x-api-key": regional_key})
    assert status == 422, refused
    # and the hour closes and each Region's flush runs (twice: a repeat bills nothing more)
    stack.post("/_local/clock", {"advance_seconds": 3600 + 600})
    for _ in range(2):
        stack.post("/_local/flush", {})
        status, flushed = post_json(f"{regional_url}/_local/flush", {})
        assert status == 200, flushed
    # Then each Region billed its own usage once, in its own Region of the ledger
    billed = sorted((r["region"], r["dimension"], r["quantity"]) for r in admin.ledger())
    assert billed == [("eu-west-1", "api_calls", "7"), ("us-east-1", "api_calls", "5")]
    calls = admin.calls(operation="BatchMeterUsage")
    assert {c["region"] for c in calls} == {"us-east-1", "eu-west-1"}
    # and the operator's usage and reconciliation, finding the stack through make run's run file, read both Regions
    used = sorted((r["region"], r["quantity"], r["status"]) for r in stack.cli("usage"))
    assert used == [("eu-west-1", "7", "sent"), ("us-east-1", "5", "sent")]
    reconciled = stack.cli("reconcile")
    assert (reconciled["regions"], reconciled["mismatches"]) == (["us-east-1", "eu-west-1"], 0)
    assert sorted((r["region"], r["sealed"], r["cloudtrail"]) for r in reconciled["rows"]) == [
        ("eu-west-1", "7", "7"),
        ("us-east-1", "5", "5"),
    ]

    # When, in the next hour, the buyer uses 1 at home and 2 in eu-west-1, and unsubscribes
    later = datetime.fromtimestamp(now.timestamp() + 3600 + 600, UTC)  # the app's clock, moved
    stack.post("/usage", {"events": [usage_event("f1", customer, 1, later)]}, {"x-api-key": stack.api_key})
    status, answer = post_json(
        f"{regional_url}/usage", {"events": [usage_event("f2", customer, 2, later)]}, {"x-api-key": regional_key}
    )
    assert (status, answer["accepted"]) == (200, 1), answer
    [subscription] = admin.list_subscriptions(account_id=customer["account"])
    admin.unsubscribe(subscription["agreement_id"])
    eventually(lambda: stack.cli("customers"), lambda rows: rows[0]["state"] == "ending", "customer state")
    # the notification handled to its end before the clock moves: "ending" shows once its event is kept, before its
    # timer is scheduled, and a clock moved in between puts the cutoff at that moment (seen once under load)
    stack.post("/_local/drain", {})
    # and the cutoff, 45 minutes into the final hour, passes: the main stack's final-usage step sends its usage
    stack.post("/_local/clock", {"advance_seconds": 47 * 60})
    stack.post("/_local/drain", {})  # the leaving buyer's timer, due now, handled
    eventually(admin.ledger, lambda records: len(records) == 3, "the main Region's final usage in the ledger")
    # Then eu-west-1, asked by that step, sends its usage of the final hour at once (its 5-minute schedule)
    status, answered = post_json(f"{regional_url}/_local/final-usage", {})
    assert status == 200, answered
    assert [report["sent"] for report in answered["final_usage_requests"].values()] == [1]
    billed = sorted((r["region"], r["hour"][:13], r["quantity"]) for r in admin.ledger())
    final_hour = later.strftime("%Y-%m-%dT%H")
    assert [b for b in billed if b[1] == final_hour] == [("eu-west-1", final_hour, "2"), ("us-east-1", final_hour, "1")]
    # before the subscription is final, and nothing was billed twice: asked again, nothing more is sent
    assert admin.get_subscription(subscription["agreement_id"])["status"] != "ended"
    status, again = post_json(f"{regional_url}/_local/final-usage", {})
    assert (status, again["final_usage_requests"]) == (200, {})
    assert len(admin.ledger()) == 4
