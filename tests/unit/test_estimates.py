"""List prices as a product setting, and the estimates `cli usage` shows from them (in-memory fakes only)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.flush.records import MeteringEntry, MeteringRecord, Placement, RetentionFloor
from functions.settings import Dimension, InvalidField, Product, Settings, settings_environment, settings_from_env
from operations.cli import main
from operations.estimates import LABEL, monthly
from operations.queries import OperationsDeps
from operations.target import Target
from tests.fakes import LONG_KEPT, InMemoryCustomers, InMemoryUsage

NOW = datetime(2026, 12, 1, 3, 30, tzinfo=UTC)
PRODUCT = Product(
    code="priced",
    name="Priced",
    dimensions=(
        Dimension(name="api_calls", price="0.002"),
        Dimension(name="storage_gb", quantity_type="decimal", price=0.5, currency="EUR"),
        Dimension(name="free_thing"),
    ),
)
LICENCES = ("arn:aws:license-manager::1:license:l-a", "arn:aws:license-manager::1:license:l-b")
ACCOUNTS = ("111100000001", "111100000002")


def entry(index: int, dimension: str, quantity: str, status: str, hour: datetime) -> MeteringEntry:
    record = MeteringRecord(
        key=f"{PRODUCT.code}#LICENSE#{LICENCES[index]}#{dimension}",
        hour=hour,
        product_code=PRODUCT.code,
        customer_key=f"LICENSE#{LICENCES[index]}",
        customer_aws_account_id=ACCOUNTS[index],
        dimension=dimension,
        quantity=Decimal(quantity),
        integer=dimension != "storage_gb",
        license_arn=LICENCES[index],
    )
    return MeteringEntry(record, status, "m" if status == "sent" else None)


NOVEMBER = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)
DECEMBER = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
ENTRIES = [
    entry(0, "api_calls", "1000", "sent", NOVEMBER),
    entry(0, "api_calls", "500", "sent", NOVEMBER + timedelta(hours=1)),
    entry(0, "storage_gb", "3", "sent", NOVEMBER),
    entry(0, "free_thing", "9", "sent", NOVEMBER),
    entry(1, "api_calls", "250", "duplicate", NOVEMBER),  # parked: never billed, counted nowhere
    entry(1, "api_calls", "100", "sent", DECEMBER),
    entry(1, "api_calls", "40", "pending", DECEMBER + timedelta(hours=1)),
]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"price": "-0.01"}, "price"),
        ({"price": "ten"}, "price"),
        ({"price": "NaN"}, "price"),
        ({"price": True}, "price"),
        ({"currency": "usd"}, "currency"),
        ({"currency": "DOLLARS"}, "currency"),
    ],
)
def test_a_bad_price_names_its_field(fields: dict[str, object], named: str) -> None:
    with pytest.raises(InvalidField) as raised:
        Dimension(name="api_calls", **fields)  # type: ignore[arg-type]
    assert raised.value.field == named


def test_prices_travel_through_the_functions_environment() -> None:
    settings = Settings(products=(PRODUCT,))
    [product] = settings_from_env(settings_environment(settings)).products
    assert [(d.unit_price, d.currency) for d in product.dimensions] == [
        (Decimal("0.002"), "USD"),
        (Decimal("0.5"), "EUR"),
        (None, "USD"),
    ]


def test_monthly_estimates_count_billed_and_pending_usage_at_list_price() -> None:
    found = [
        (e.month, e.customer_aws_account_id, e.currency, e.billed_units, e.billed, e.pending)
        for e in monthly(Settings(products=(PRODUCT,)), ENTRIES)
    ]
    assert found == [
        ("2026-11", ACCOUNTS[0], "EUR", Decimal(3), Decimal("1.5"), Decimal(0)),
        ("2026-11", ACCOUNTS[0], "USD", Decimal(1500), Decimal("3.000"), Decimal(0)),
        ("2026-12", ACCOUNTS[1], "USD", Decimal(100), Decimal("0.200"), Decimal("0.080")),
    ]


class Ledger:
    def retention_floor(self) -> RetentionFloor:
        return LONG_KEPT

    def next_hour_to_seal(self) -> datetime | None:
        return NOW.replace(minute=0)

    def records_of_hour(self, hour: datetime) -> Iterator[MeteringEntry]:
        return iter([e for e in ENTRIES if e.record.hour == hour])

    def sealed_in_dry_run(self, hour: datetime) -> bool:
        return False

    def modes_kept_since(self) -> datetime | None:
        return None

    def carried_into(self, hour: datetime) -> list[MeteringRecord]:
        return []

    def placements_into(self, hour: datetime) -> list[tuple[MeteringRecord, Placement]]:
        return []

    def pending_count(self) -> int:
        return 0

    def requeue(self, seen: MeteringEntry) -> bool:
        return False


def test_cli_usage_shows_each_rows_estimate_and_a_labelled_monthly_summary() -> None:
    customers = InMemoryCustomers()
    for licence, account in zip(LICENCES, ACCOUNTS, strict=True):
        customers.put(
            Customer(
                ref=CustomerRef(PRODUCT.code, license_arn=licence),
                customer_aws_account_id=account,
                state=SubscriptionState.ACTIVE,
                state_changed_at=NOW,
            )
        )
    deps = OperationsDeps(Settings(products=(PRODUCT,)), customers, InMemoryUsage(), Ledger(), ManualClock(NOW))
    target = Target("fake", deps, lambda _: {}, customers)
    out, err = io.StringIO(), io.StringIO()
    assert main(["usage", "--since", "6h", "--json"], out=out, err=err, target=lambda _: target) == 0, err.getvalue()
    rows = json.loads(out.getvalue())
    assert [(r["dimension"], r["quantity"], r["estimated_charge"], r["currency"]) for r in rows] == [
        ("api_calls", "1000", "2.00", "USD"),
        ("free_thing", "9", None, None),
        ("storage_gb", "3", "1.50", "EUR"),
        ("api_calls", "250", "0.50", "USD"),
        ("api_calls", "500", "1.00", "USD"),
        ("api_calls", "100", "0.20", "USD"),
        ("api_calls", "40", "0.08", "USD"),
    ]
    out = io.StringIO()
    assert main(["usage", "--since", "6h"], out=out, err=err, target=lambda _: target) == 0
    summary = out.getvalue().split(f"\n{LABEL}\n")[1].splitlines()
    assert summary[0].split() == ["MONTH", "PRODUCT", "ACCOUNT", "CURRENCY", "EST.", "BILLED", "EST.", "TO", "BILL"]
    assert [line.split() for line in summary[1:]] == [
        ["2026-11", PRODUCT.code, ACCOUNTS[0], "EUR", "1.50", "0.00"],
        ["2026-11", PRODUCT.code, ACCOUNTS[0], "USD", "3.00", "0.00"],
        ["2026-12", PRODUCT.code, ACCOUNTS[1], "USD", "0.20", "0.08"],
    ]
