"""`cli report` opened in a real Chromium with every network request refused: it renders from the file alone, and
its figures are the emulator ledger's. Keeps the screenshot README shows (docs/report.png)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Route

from functions.settings import Dimension, Product, Settings
from local.marketplace.testing import EmulatorHandle
from tests.operator_world import OperatorWorld

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "report.png"
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PRICES = {"api_calls": Decimal("0.002"), "storage_gb": Decimal("0.10")}
PRODUCT = Product(
    code="report-product",
    name="Report",
    dimensions=(
        Dimension(name="api_calls", price="0.002"),
        Dimension(name="storage_gb", quantity_type="decimal", price="0.10"),
    ),
)
ACCOUNTS = ("300000000001", "300000000002", "300000000003")
# (hours after START, account index, dimension, quantity): a day and a half of three buyers' usage
USAGE: list[tuple[int, int, str, int | str]] = [
    (0, 0, "api_calls", 1200),
    (0, 1, "api_calls", 300),
    (0, 1, "storage_gb", "12.5"),
    (0, 2, "api_calls", 75),
    (11, 0, "api_calls", 2400),
    (11, 2, "storage_gb", "3.25"),
    (12, 1, "api_calls", 800),
    (23, 2, "api_calls", 50),  # refused by Marketplace when flushed (a licence fault): parked
    (29, 0, "storage_gb", "40"),  # its hour is closed but not flushed when the report is made
]
REFUSED_AT = 23
CENT = Decimal("0.01")


def _live(world: OperatorWorld) -> None:
    """Each hour's usage, then the flush an hour later (the last hour's flush has not run yet)."""
    hours = sorted({hours for hours, *_ in USAGE})
    for hour in hours:
        for number, (at, index, dimension, quantity) in enumerate(USAGE):
            if at == hour:
                world.move_to(START + timedelta(hours=hour, minutes=5 + number))
                world.use(index, dimension, quantity, f"e{number}")
        world.move_to(START + timedelta(hours=hour + 1, minutes=10))
        if hour == REFUSED_AT:
            world.marketplace.admin.queue_errors({"operation": "BatchMeterUsage", "code": "InvalidLicenseException"})
        if hour != hours[-1]:
            status, _, err = world.cli("flush", "--json")
            assert status == 0, err
    world.move_to(START + timedelta(hours=30, minutes=20))


def test_the_report_opens_offline_and_its_figures_are_the_ledgers(
    browser: Browser, settings: Settings, marketplace: EmulatorHandle, dynamodb: Any, tmp_path: Path
) -> None:
    # Given a month with three buyers, one record refused and one hour not flushed yet
    test_settings = replace(settings, products=(PRODUCT,), usage_shards=2, marketplace_endpoint=marketplace.url)
    world = OperatorWorld.with_buyers(test_settings, marketplace, dynamodb, PRODUCT, ACCOUNTS, START)
    _live(world)
    # When the operator writes the month's report
    report = tmp_path / "report.html"
    status, out, err = world.cli("report", "--month", "2026-12", "--html", str(report))
    assert status == 0, err
    ledger = marketplace.admin.ledger(product_code=PRODUCT.code)
    assert out == f"wrote {report}: {len(ledger)} records billed, 2 mismatches\n"

    # Then Chromium shows it with every request but the file itself refused
    context = browser.new_context(viewport={"width": 1180, "height": 900})
    requested: list[str] = []

    def refuse_network(route: Route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", refuse_network)
    page = context.new_page()
    page.on("request", lambda request: requested.append(request.url))
    page.goto(report.as_uri())
    assert requested == [report.as_uri()]
    assert page.evaluate("document.scripts.length") == 0
    assert page.locator("svg").count() == 5  # two hourly, two daily, top customers

    # and its figures are the ledger's: units and records billed per dimension, estimates at list price
    billed: dict[str, Decimal] = defaultdict(Decimal)
    by_account: dict[str, Decimal] = defaultdict(Decimal)
    for record in ledger:
        billed[record["dimension"]] += Decimal(record["quantity"])
        by_account[record["customer_aws_account_id"]] += Decimal(record["quantity"]) * PRICES[record["dimension"]]
    accepted: dict[str, Decimal] = defaultdict(Decimal)
    for _, _, dimension, quantity in USAGE:
        accepted[dimension] += Decimal(str(quantity))
    for dimension in PRICES:
        row = page.get_by_test_id(f"dimension-{PRODUCT.code}-{dimension}")
        assert Decimal(row.locator("[data-col=billed]").inner_text()) == billed[dimension]
        assert Decimal(row.locator("[data-col=accepted]").inner_text()) == accepted[dimension]
        assert Decimal(row.locator("[data-col=cloudtrail]").inner_text()) == billed[dimension]
        records = sum(1 for r in ledger if r["dimension"] == dimension)
        assert int(row.locator("[data-col=records]").inner_text()) == records
        estimate = row.locator("[data-col=estimated]").inner_text()
        assert estimate == f"{(billed[dimension] * PRICES[dimension]).quantize(CENT, ROUND_HALF_UP)} USD"
    assert page.get_by_test_id("records-billed").locator("b").inner_text() == str(len(ledger))
    total = sum(by_account.values(), Decimal(0)).quantize(CENT, ROUND_HALF_UP)
    assert page.get_by_test_id("estimated-billed").locator("b").inner_text() == f"{total} USD"
    assert page.get_by_test_id("estimated-to-bill").locator("b").inner_text() == "4.00 USD"  # 40 GB at 0.10
    for account, amount in by_account.items():
        shown = page.get_by_test_id(f"customer-{account}").get_attribute("data-billed")
        assert Decimal(shown or "") == amount.quantize(CENT, ROUND_HALF_UP)
    # the top customer is drawn first
    first = page.locator("g[data-testid^=customer-]").first.get_attribute("data-testid")
    assert first == f"customer-{max(by_account, key=lambda a: by_account[a])}"
    # the refused record and the unflushed hour are the mismatches, named
    assert page.get_by_test_id("mismatch-count").locator("b").inner_text() == "2"
    mismatches = [row.inner_text() for row in page.get_by_test_id("mismatch").all()]
    assert len(mismatches) == 2
    assert ACCOUNTS[2] in mismatches[0]
    assert "InvalidLicenseException" in mismatches[0]
    assert ACCOUNTS[0] in mismatches[1]
    assert "not yet sent" in mismatches[1]
    # the daily chart's billed bars add up to the ledger
    drawn = page.locator("rect[data-series=billed]").evaluate_all("bars => bars.map(b => b.dataset.value)")
    assert sum((Decimal(v) for v in drawn), Decimal(0)) == sum(billed.values(), Decimal(0))
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    context.close()
