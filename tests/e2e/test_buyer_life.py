"""A buyer's whole life on the local stack, started as `make run` starts it: subscribe in the emulator's pages,
register on ours in a real browser, send usage over HTTP, move the clock, flush, and find exactly that usage in
Marketplace's ledger; then unsubscribe. Ctrl-C stops everything."""

from __future__ import annotations

import io
import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from local.marketplace.admin import AdminClient
from operations.cli import main as cli
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.local_stack import LaunchedStack, launched

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
PRODUCT = "demo-saas-product"
BUYER = "111122223333"
DEADLINE_SECONDS = 30
T = TypeVar("T")


def post_json(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """POST ``body`` as JSON; the answer's status and JSON body, whatever the status."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@dataclass
class RunningStack:
    process: subprocess.Popen[str]
    api_url: str
    marketplace_url: str
    api_key: str
    run_file: Path

    @classmethod
    def of(cls, started: LaunchedStack, run_file: Path) -> RunningStack:
        key = re.search(r"x-api-key: (\S+?)\)", started.banner)
        assert key, started.banner
        api_url = started.url("Usage API").removesuffix("/usage")
        return cls(started.process, api_url, started.url("Marketplace emulator"), key.group(1), run_file)

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        status, answer = self.post_with_status(path, body, headers)
        assert status == 200, answer
        return answer

    def post_with_status(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        return post_json(self.api_url + path, body, headers)

    def cli(self, *argv: str) -> Any:
        """The operator CLI, finding this stack as it finds a `make run` one: through the file it writes."""
        out, err = io.StringIO(), io.StringIO()
        status = cli([*argv, "--json", "--run-file", str(self.run_file)], out=out, err=err, environ={})
        assert status == 0, err.getvalue()
        return json.loads(out.getvalue())


def eventually(observe: Callable[[], T], done: Callable[[T], bool], what: str) -> T:
    """Poll observable state until ``done`` (asynchronous deliveries), within a bounded deadline."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        value = observe()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"{what}: still {value!r} after {DEADLINE_SECONDS}s"
        time.sleep(0.1)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[RunningStack]:
    # Given the local stack started as `make run` starts it, on free ports, with no schedule of its own
    # (the test flushes when it decides), describing itself in a file of this test's own
    run_file = tmp_path / "local.json"
    with launched(run_file, "--flush-interval=0") as started:
        yield RunningStack.of(started, run_file)
    # When Ctrl-C arrives, Then everything stopped cleanly, and the description is gone with it
    assert started.process.returncode == 0, started.output
    assert not run_file.exists()


def register_in_a_browser(stack: RunningStack) -> None:
    """Headless Chromium, on a thread of its own: Playwright's sync API runs one session per thread, and the browser
    tests' session-wide one may be open on the main thread already."""

    def drive() -> None:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.set_default_timeout(15_000)
                subscribe_and_register(page, stack)
            finally:
                browser.close()

    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(drive).result()


def subscribe_and_register(page: Page, stack: RunningStack) -> None:
    page.goto(stack.marketplace_url + "/")
    product = page.locator(f'[data-product-code="{PRODUCT}"]')
    product.locator('input[name="account_id"]').fill(BUYER)
    product.locator(f"#subscribe-{PRODUCT}").click()
    page.locator("#setup-account").click()
    expect(page.get_by_role("heading", name="Welcome to Demo SaaS product")).to_be_visible()
    assert page.url == stack.api_url + "/register"
    page.fill("#company", "Newcomer Ltd")
    page.fill("#contact_name", "Grace Hopper")
    page.fill("#email", "grace@example.com")
    page.click("#complete-registration")
    expect(page.locator("#confirmation")).to_have_text("You are all set")


def units_billed(ledger: list[dict[str, Any]]) -> int:
    return sum(int(r["quantity"]) for r in ledger)


def usage_event(event_id: str, customer: dict[str, Any], quantity: int, at: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "product_code": PRODUCT,
        "license_arn": customer["customer"],
        "customer_aws_account_id": BUYER,
        "dimension": "api_calls",
        "quantity": quantity,
        "timestamp": at.isoformat(),
    }


def test_a_buyer_subscribes_registers_uses_is_billed_once_and_leaves(stack: RunningStack) -> None:
    admin = AdminClient(stack.marketplace_url)
    # When a buyer subscribes on the Marketplace page and registers on ours
    register_in_a_browser(stack)
    # Then, once the subscription notifications are delivered, the operator sees an active customer
    [customer] = eventually(
        lambda: stack.cli("customers", "--product", PRODUCT),
        lambda rows: [r["state"] for r in rows] == ["active"],
        "customer state",
    )
    assert customer["account"] == BUYER
    assert customer["registered_at"]
    # When they send usage with the local key (one event twice: counted once)
    now = datetime.now(UTC)  # the app's clock has not been moved yet
    events = [usage_event("e1", customer, 5, now), usage_event("e2", customer, 7, now)]
    answer = stack.post("/usage", {"events": [*events, events[0]]}, {"x-api-key": stack.api_key})
    assert (answer["accepted"], answer["duplicates"]) == (2, 1)
    hour = events[0]["timestamp"][:13]
    # and the hour closes (clock moved past the hour and the grace)
    stack.post("/_local/clock", {"advance_seconds": 3600 + 600})
    # When producers retry across the top of the hour: the same batch as sent (a lost answer), a retry that re-stamps
    # its event in the new hour, and one that changes its quantity (fails on the code before issue 23: the re-stamped
    # one was accepted in the new hour and billed twice)
    key = {"x-api-key": stack.api_key}
    again = stack.post("/usage", {"events": events}, key)
    assert (again["accepted"], again["duplicates"]) == (0, 2)
    restamped = usage_event("e2", customer, 7, now + timedelta(seconds=3600 + 600))
    for retry, field in ((restamped, "timestamp"), (usage_event("e1", customer, 6, now), "quantity")):
        status, conflict = stack.post_with_status("/usage", {"events": [retry]}, key)
        assert (status, [e["field"] for e in conflict["errors"]]) == (409, [f"events[0].{field}"])
    # and the flush runs now
    flushed = stack.post("/_local/flush", {})
    assert (flushed["succeeded"], flushed["failed"], flushed["left_pending"]) == (1, {}, 0)
    # Then Marketplace's ledger holds exactly that usage, once
    billed = [(r["license_arn"], r["dimension"], r["hour"][:13], r["quantity"]) for r in admin.ledger()]
    assert billed == [(customer["customer"], "api_calls", hour, "12")]
    # and the operator sees it sent
    [sent] = stack.cli("usage", "--customer", BUYER, "--since", "3h")
    assert (sent["hour"][:13], sent["quantity"], sent["status"]) == (hour, "12", "sent")
    assert sent["metering_record_id"] == admin.ledger()[0]["metering_record_id"]

    # When they use 4 more in the next hour, and then unsubscribe before that hour is over (the emulator sends AWS's
    # shapes: Purchase Agreement Ended, no product in it)
    later = now + timedelta(seconds=3600 + 600)
    stack.post("/usage", {"events": [usage_event("e3", customer, 4, later)]}, {"x-api-key": stack.api_key})
    [subscription] = admin.list_subscriptions(product_code=PRODUCT, account_id=BUYER)
    admin.unsubscribe(subscription["agreement_id"])
    # Then the operator sees them leaving; usage in their final hour is still taken
    eventually(lambda: stack.cli("customers"), lambda rows: rows[0]["state"] == "ending", "customer state")
    stack.post("/_local/drain", {})  # handled to its end (its timer scheduled) before the clock moves
    stack.post("/_local/clock", {"advance_seconds": 600})
    stack.post("/usage", {"events": [usage_event("e5", customer, 2, later)]}, {"x-api-key": stack.api_key})
    # When the cutoff, 45 minutes into the final hour, has passed
    stack.post("/_local/clock", {"advance_seconds": 36 * 60})
    # Then all their usage is billed without waiting for the hour to close, before the subscription is final, and
    # nothing was billed twice
    # (4 + 2 in the final hour: one record, or two where the clock's move made the second event late)
    ledger = eventually(admin.ledger, lambda records: units_billed(records) == 18, "final usage in the ledger")
    assert ledger[0]["quantity"] == "12"
    assert admin.get_subscription(subscription["agreement_id"])["status"] != "ended"
    # and usage after the cutoff is refused, naming the customer field and why
    status, refused = stack.post_with_status(
        "/usage", {"events": [usage_event("e6", customer, 1, later)]}, {"x-api-key": stack.api_key}
    )
    assert (status, refused["errors"][0]["field"]) == (422, "events[0].license_arn")
    assert "final usage was taken until" in refused["errors"][0]["message"]
    # When the subscription is final (License Deprovisioned)
    admin.finalize(subscription["agreement_id"])
    eventually(lambda: stack.cli("customers"), lambda rows: rows[0]["state"] == "ended", "customer state")
    # Then further usage is refused as ended, and the ledger is unchanged
    status, refused = stack.post_with_status(
        "/usage", {"events": [usage_event("e4", customer, 1, later)]}, {"x-api-key": stack.api_key}
    )
    assert status == 422
    assert refused["errors"][0]["field"] == "events[0].license_arn"
    assert "subscription ended" in refused["errors"][0]["message"]
    assert units_billed(admin.ledger()) == 18
