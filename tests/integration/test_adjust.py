"""``cli adjust`` against DynamoDB Local and the Marketplace emulator (its CloudTrail and Agreement Service): an hour
AWS billed that nobody used is proposed as a refund on the month's invoice, a dry run sends none (no
BatchCreateBillingAdjustmentRequest in the emulator's call log), ``--send`` refunds it once however often it is sent
(after a lost answer too), and never more than the invoice's maxAdjustmentAmount."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from functions.customers.lifecycle_store import DynamoLifecycleStore
from functions.customers.model import CustomerRef
from functions.customers.repository import DynamoCustomerRepository
from functions.lifecycle.notifications import parse_notification
from functions.settings import Dimension, Product, Settings
from local.marketplace.testing import EmulatorHandle, usage_record
from operations.reconcile import PLACED_FROM
from tests.operator_world import OperatorWorld

START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
ACCOUNTS = ("300000000001", "300000000002")
BATCH = "BatchCreateBillingAdjustmentRequest"
WINDOW = ("--from", "2026-11-26T09:00Z", "--to", "2026-11-26T10:00Z")


def product(price: str) -> Product:
    return Product(code="adjust-product", name="Adjust", dimensions=(Dimension(name="api_calls", price=price),))


class Refunds(OperatorWorld):
    def cli(self, *argv: str) -> tuple[int, str, str]:
        if argv[:1] == ("adjust",):
            self.settle(argv)
        return super().cli(*argv)

    def settle(self, argv: Sequence[str]) -> None:
        """``cli adjust`` refunds an hour once what was due in it is final, ``PLACED_FROM`` after it: the clock moves
        there for the last hour of the window ``--to`` names (where it is not there yet)."""
        until = argv[argv.index("--to") + 1] if "--to" in argv else ""
        if "T" in until:
            last = datetime.fromisoformat(until.replace("Z", "+00:00"))
            self.move_to(max(self.clock.now(), last + PLACED_FROM))

    def adjust(self, *argv: str) -> tuple[int, dict[str, Any]]:
        status, out, err = self.cli("adjust", *WINDOW, *argv, "--json")
        assert status in (0, 1), err
        return status, json.loads(out)

    def refunds_sent(self) -> list[dict[str, Any]]:
        return list(self.marketplace.admin.state()["billing_adjustments"].values())

    def bill_unused(self, hour_offset: int, units: int) -> None:
        """Someone billed our first customer ``units`` at 5 past the hour ``hour_offset`` hours after START, an hour
        they used nothing in (the clock moves there)."""
        at = START + timedelta(hours=hour_offset, minutes=5)
        self.move_to(at)
        records = [usage_record(self.subscriptions[0], "api_calls", units, at)]
        assert self.outsider().batch_meter_usage(UsageRecords=records)["UnprocessedRecords"] == []

    def outsider(self) -> Any:
        """The other sender's BatchMeterUsage client. It shares the seller's quota (10 calls a second) with our flush,
        so a test billing many hours in a row is throttled at times, and retries as an SDK does."""
        return self.marketplace.metering(max_attempts=8)

    def adjust_send(self, since: str, until: str) -> dict[str, Any]:
        """``cli adjust --send`` over the hours ``since`` to ``until``: what it showed."""
        status, out, err = self.cli("adjust", "--from", since, "--to", until, "--send", "--json")
        assert status == 0, err + out
        shown: dict[str, Any] = json.loads(out)
        return shown

    def bill_two_unused_hours(self) -> None:
        """Our first customer's honest 5,000 units at 09:00, billed by our flush (the invoice has room beyond what is
        over-billed); 1,000 units nobody used at 10:05 and 700 at 11:05, known to CloudTrail only."""
        self.move_to(START + timedelta(minutes=5))
        self.use(0, "api_calls", 5000, "honest-0")
        self.bill_unused(1, 1000)
        self.bill_unused(2, 700)
        self.move_to(START + timedelta(hours=4, minutes=10))
        status, _, err = self.cli("flush", "--json")
        assert status == 0, err

    def over_bill(self, units: int) -> None:
        """Someone billed our first customer ``units`` in an hour they used nothing; the hours then settle."""
        records = [usage_record(self.subscriptions[0], "api_calls", units, START + timedelta(minutes=5))]
        assert self.outsider().batch_meter_usage(UsageRecords=records)["UnprocessedRecords"] == []
        self.use(1, "api_calls", 3, "honest-1")  # another customer's honest usage: billed, not refunded
        self.move_to(START + timedelta(hours=2, minutes=10))
        status, _, err = self.cli("flush", "--json")
        assert status == 0, err


def refunds(price: str, settings: Settings, marketplace: EmulatorHandle, dynamodb: Any) -> Refunds:
    priced = product(price)
    test_settings = replace(settings, products=(priced,), usage_shards=2, marketplace_endpoint=marketplace.url)
    world = Refunds.with_buyers(test_settings, marketplace, dynamodb, priced, ACCOUNTS, START)
    repository = DynamoCustomerRepository(dynamodb, test_settings.customers_table)
    for subscription in world.subscriptions:  # registered with their agreement, as ResolveCustomer names it
        ref = CustomerRef(priced.code, license_arn=subscription["license_arn"])
        customer = repository.get(ref)
        assert customer is not None
        repository.put(replace(customer, agreement_id=subscription["agreement_id"]))
    return world


@pytest.fixture
def world(settings: Settings, marketplace: EmulatorHandle, dynamodb: Any) -> Refunds:
    return refunds("0.01", settings, marketplace, dynamodb)


def test_a_dry_run_proposes_the_refund_and_sends_nothing(world: Refunds) -> None:
    world.over_bill(1000)
    status, report = world.adjust()
    assert status == 0
    (refund,) = report["refunds"]
    assert (refund["agreement"], refund["units"], refund["amount"], refund["capped"]) == (
        world.subscriptions[0]["agreement_id"],
        "1000",
        "10",
        False,
    )
    assert refund["outcome"] == "dry run: nothing sent"
    assert world.marketplace.admin.calls(operation=BATCH) == []
    assert world.refunds_sent() == []


def test_a_refund_sent_again_and_after_a_lost_answer_is_refunded_once(world: Refunds) -> None:
    world.over_bill(1000)
    world.marketplace.admin.queue_errors({"operation": BATCH, "code": "LostResponse", "count": 1})
    status, _, err = world.cli("adjust", *WINDOW, "--send", "--json")
    # sent once a call, never retried by botocore (attack 39: a retry refused as if never taken freed a taken refund)
    assert (status, len(world.marketplace.admin.calls(operation=BATCH))) == (1, 1), err
    status, first = world.adjust("--send")  # the next run sends it again as it was: its token, the same refund
    assert status == 0
    (resent,) = [r for r in first["refunds"] if r["outcome"].startswith("refund requested: ba-")]
    assert len(world.marketplace.admin.calls(operation=BATCH)) == 2
    status, again = world.adjust("--send")  # the operator runs it again: the hour was refunded, nothing is sent
    assert status == 0
    token = resent["client_token"]
    assert again["refunds"][0]["outcome"] == f"cannot refund: refunded before (client token {token})"
    assert len(world.marketplace.admin.calls(operation=BATCH)) == 2
    (sent,) = world.refunds_sent()
    assert (Decimal(sent["adjustmentAmount"]), sent["adjustmentReasonCode"]) == (Decimal(10), "INCORRECT_METERING")
    events = [n for n in world.marketplace.admin.notifications() if "Billing Adjustment" in n["topic"]]
    assert len(events) == 1


def test_a_refund_is_never_more_than_the_invoice_allows(
    settings: Settings, marketplace: EmulatorHandle, dynamodb: Any
) -> None:
    # our list price (0.05) is above what the emulator invoiced (0.01 a unit): 50.00 over at list price, 10.00 invoiced
    world = refunds("0.05", settings, marketplace, dynamodb)
    world.over_bill(1000)
    status, report = world.adjust("--send")
    assert status == 0
    (refund,) = report["refunds"]
    assert (refund["charge"], refund["max_adjustment"], refund["amount"], refund["capped"]) == ("50", "10", "10", True)
    (sent,) = world.refunds_sent()
    assert Decimal(sent["adjustmentAmount"]) == Decimal(10)


def test_the_refunds_event_is_kept_and_the_month_report_shows_it(world: Refunds, tmp_path: Path) -> None:
    world.over_bill(1000)
    assert world.adjust("--send")[0] == 0
    (sent,) = [n["body"] for n in world.marketplace.admin.notifications() if "Billing Adjustment" in n["topic"]]
    # the emulator's event as the lifecycle reads and keeps it (the handler's own path: the corpus tests)
    event = parse_notification(json.dumps(sent), message_id="m-1", sent_at=world.clock.now())
    assert event.notice is not None
    store = DynamoLifecycleStore(world.dynamodb, world.settings.customers_table)
    assert store.record_notice(event.notice)
    status, out, err = world.cli("report", "--month", "2026-11", "--html", str(tmp_path / "r.html"))
    assert status == 0, err
    page = (tmp_path / "r.html").read_text()
    assert page.count('data-testid="refund"') == 1
    assert "-10.00 USD" in page
    assert "INCORRECT_METERING" in page
    # and cli customers shows it beside the customer whose agreement it refunded
    status, out, _ = world.cli("customers", "--json")
    rows = {r["account"]: r["notices"] for r in json.loads(out)}
    assert rows[ACCOUNTS[0]] == [
        f"refund COMPLETED -10.00 USD (invoice {sent['detail']['invoice']['originalInvoiceId']})"
    ]
    assert rows[ACCOUNTS[1]] == []
