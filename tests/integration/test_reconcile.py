"""``cli reconcile`` against DynamoDB Local and the Marketplace emulator (its CloudTrail event history included), after
a buyer life with injected faults: zero mismatches where everything was billed, each unbilled or parked record named
with its reason otherwise, and the exit status a scheduled job alarms on."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from functions.customers.model import CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from functions.flush.audit import Reconciled
from functions.flush.customer import send_customer_usage
from functions.flush.ledger import DynamoMeteringLedger
from functions.flush.run import reconcile
from functions.flush.service import FlushDeps
from functions.marketplace.cloudtrail import CloudTrailReader
from functions.marketplace.metering import Boto3MeteringGateway
from functions.observability import metrics
from functions.settings import Dimension, Product, Settings
from functions.usage.model import MAX_INTEGER_QUANTITY
from functions.usage.store import DynamoUsageStore
from functions.wiring import flush as flush_wiring
from local.marketplace.testing import EmulatorHandle, aws_client, usage_record
from local.tables import FIXED_DATE_RETENTION
from tests.operator_world import OperatorWorld

START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
PRODUCT = Product(
    code="reconcile-product",
    name="Reconcile",
    dimensions=(Dimension(name="api_calls"), Dimension(name="storage_gb", quantity_type="decimal")),
)
ACCOUNTS = ("200000000001", "200000000002", "200000000003")


class Life(OperatorWorld):
    def reconcile(self, *argv: str) -> tuple[int, dict[str, Any]]:
        status, out, err = self.cli("reconcile", *argv, "--json")
        assert status in (0, 1), err
        return status, json.loads(out)

    def flush(self) -> dict[str, Any]:
        status, out, err = self.cli("flush", "--json")
        assert status == 0, err
        summary: dict[str, Any] = json.loads(out)
        return summary

    def flush_deps(self) -> FlushDeps:
        """The flush's collaborators on this world's tables and emulator (a leaving buyer's final usage)."""
        return FlushDeps(
            settings=self.settings,
            usage=DynamoUsageStore(
                self.dynamodb,
                self.settings.usage_table,
                shards=self.settings.usage_shards,
                retention=FIXED_DATE_RETENTION,
            ),
            ledger=DynamoMeteringLedger(self.dynamodb, self.settings.metering_table, retention=FIXED_DATE_RETENTION),
            customers=DynamoCustomerRepository(self.dynamodb, self.settings.customers_table),
            gateway=Boto3MeteringGateway(self.marketplace.metering(max_attempts=1)),
            clock=self.clock,
        )

    def ledger(self) -> dict[tuple[str, str, str], Decimal]:
        return {
            (r["customer_aws_account_id"], r["dimension"], r["hour"][:13]): Decimal(r["quantity"])
            for r in self.marketplace.admin.ledger(product_code=PRODUCT.code)
        }


@pytest.fixture
def life(settings: Settings, marketplace: EmulatorHandle, dynamodb: Any) -> Life:
    test_settings = replace(settings, products=(PRODUCT,), usage_shards=2, marketplace_endpoint=marketplace.url)
    return Life.with_buyers(test_settings, marketplace, dynamodb, PRODUCT, ACCOUNTS, START)


# the month's report reads every hour of the month up to now: a world at its start keeps it short
FIRST_OF_MONTH = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OPENING = "2026-12-01T09:00Z"


@pytest.fixture
def monthly(settings: Settings, marketplace: EmulatorHandle, dynamodb: Any) -> Life:
    test_settings = replace(settings, products=(PRODUCT,), usage_shards=2, marketplace_endpoint=marketplace.url)
    return Life.with_buyers(test_settings, marketplace, dynamodb, PRODUCT, ACCOUNTS, FIRST_OF_MONTH)


def _sides(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (r["hour"][:13], r["account"], r["dimension"], r["accepted"], r["sealed"], r["marketplace"], r["cloudtrail"])
        for r in rows
    ]


def test_zero_mismatches_when_everything_was_billed_through_faults(life: Life) -> None:
    # Given a buyer life over two hours
    life.use(0, "api_calls", 5, "a1")
    life.use(0, "api_calls", 2, "a2")
    life.use(1, "storage_gb", "1.5", "b1")
    life.move_to(START + timedelta(hours=1, minutes=10))
    life.use(0, "api_calls", 4, "a3")
    life.use(2, "api_calls", 9, "c1")
    # whose first flush loses Marketplace's answer once and is throttled once (both sent again, identical)
    life.marketplace.admin.queue_errors(
        {"operation": "BatchMeterUsage", "code": "LostResponse"},
        {"operation": "BatchMeterUsage", "code": "ThrottlingException"},
    )
    assert life.flush()["succeeded"] == 2
    life.move_to(START + timedelta(hours=2, minutes=10))
    assert life.flush()["succeeded"] == 2
    # When the operator reconciles the hours
    status, report = life.reconcile("--from", "2026-11-26T09:00Z", "--to", "2026-11-26T10:00Z")
    # Then every side agrees, and each figure is the one Marketplace billed
    assert (status, report["mismatches"], report["cloudtrail_checked"]) == (0, 0, True), report["rows"]
    ledger = life.ledger()
    assert _sides(report["rows"]) == [
        ("2026-11-26T09", ACCOUNTS[0], "api_calls", "7", "7", "Success", "7"),
        ("2026-11-26T09", ACCOUNTS[1], "storage_gb", "1.5", "1.5", "Success", "1.5"),
        ("2026-11-26T10", ACCOUNTS[0], "api_calls", "4", "4", "Success", "4"),
        ("2026-11-26T10", ACCOUNTS[2], "api_calls", "9", "9", "Success", "9"),
    ]
    assert {(r["account"], r["dimension"], r["hour"][:13]): Decimal(r["cloudtrail"]) for r in report["rows"]} == ledger
    # the lost answer's call is in CloudTrail too: AWS received it, so the record is found twice, billed once
    assert all(r["metering_record_id"] for r in report["rows"])
    # and the table for people says so
    status, out, _ = life.cli("reconcile", "--from", "2026-11-26T09:00Z", "--to", "2026-11-26T10:00Z")
    assert status == 0
    assert out.splitlines()[0].split()[:7] == [
        "HOUR",
        "REGION",
        "PRODUCT",
        "ACCOUNT",
        "DIMENSION",
        "ACCEPTED",
        "SEALED",
    ]
    assert out.rstrip().endswith("4 rows, no mismatches")


def test_each_record_a_fault_left_unbilled_or_parked_is_named_with_its_reason(life: Life) -> None:
    hour = [START + timedelta(hours=n) for n in range(6)]
    # Given hour 09: a record Marketplace refuses (the licence)
    life.use(1, "api_calls", 12, "b1")
    life.move_to(hour[1] + timedelta(minutes=10))
    life.marketplace.admin.queue_errors({"operation": "BatchMeterUsage", "code": "InvalidLicenseException"})
    assert life.flush()["failed"] == {"InvalidLicenseException": 1}
    # hour 10: one record billed, one a duplicate of a record someone else sent for that customer's hour
    life.marketplace.metering().batch_meter_usage(
        UsageRecords=[usage_record(life.subscriptions[2], "api_calls", 99, hour[1])]
    )
    life.use(0, "api_calls", 3, "a1")
    life.use(2, "api_calls", 6, "c1")
    life.move_to(hour[2] + timedelta(minutes=10))
    summary = life.flush()
    assert (summary["succeeded"], summary["failed"]) == (1, {"DuplicateRecord": 1})
    # hour 11: sent and billed, but CloudTrail has not delivered the call's event yet
    life.use(0, "storage_gb", "2.25", "a2")
    life.move_to(hour[3] + timedelta(minutes=10))
    life.marketplace.admin.put_config(cloudtrail_delivery_delay_seconds=7200)
    assert life.flush()["succeeded"] == 1
    # hour 12: closed, not flushed yet
    life.move_to(hour[3] + timedelta(minutes=20))
    life.use(1, "storage_gb", "0.5", "b2")
    life.move_to(hour[4] + timedelta(minutes=10))
    # When the operator reconciles
    status, report = life.reconcile("--from", "2026-11-26T09:00Z", "--to", "2026-11-26T12:00Z")
    # Then it exits 1 and names each record and why
    assert status == 1
    named = [(r["hour"][:13], r["account"], r["dimension"], r["mismatch"]) for r in report["rows"] if r["mismatch"]]
    assert named == [
        ("2026-11-26T09", ACCOUNTS[1], "api_calls", "failed"),
        ("2026-11-26T10", ACCOUNTS[2], "api_calls", "parked"),
        ("2026-11-26T11", ACCOUNTS[0], "storage_gb", "sent but absent from CloudTrail"),
        ("2026-11-26T12", ACCOUNTS[1], "storage_gb", "not yet sent"),
    ]
    assert report["mismatches"] == 4
    by_reason = {r["mismatch"]: r for r in report["rows"] if r["mismatch"]}
    assert "InvalidLicenseException" in by_reason["failed"]["detail"]
    assert "DuplicateRecord" in by_reason["parked"]["detail"]
    # the duplicate's hour: AWS billed someone else's 99 units, not our 6, and CloudTrail shows it
    assert (by_reason["parked"]["accepted"], by_reason["parked"]["cloudtrail"]) == ("6", "99")
    assert (by_reason["not yet sent"]["accepted"], by_reason["not yet sent"]["status"]) == ("0.5", "unsealed")
    agreed = [r for r in report["rows"] if not r["mismatch"]]
    assert [(r["hour"][:13], r["account"], r["sealed"], r["cloudtrail"]) for r in agreed] == [
        ("2026-11-26T10", ACCOUNTS[0], "3", "3")
    ]
    # When CloudTrail has delivered and the last hour is flushed, only the refused and the parked one are left
    life.marketplace.admin.put_config(cloudtrail_delivery_delay_seconds=0)
    life.move_to(hour[4] + timedelta(minutes=30))
    assert life.flush()["succeeded"] == 1
    life.move_to(hour[5] + timedelta(minutes=11))
    status, report = life.reconcile("--from", "2026-11-26T09:00Z", "--to", "2026-11-26T12:00Z")
    assert status == 1
    assert [r["mismatch"] for r in report["rows"] if r["mismatch"]] == ["failed", "parked"]
    # and the table for people lists them after the rows
    status, out, _ = life.cli("reconcile", "--from", "2026-11-26T09:00Z", "--to", "2026-11-26T12:00Z")
    assert status == 1
    tail = out.split("\n2 mismatches:\n")[1]
    assert "failed: never billed: InvalidLicenseException" in tail
    assert "parked: Marketplace answered DuplicateRecord" in tail


def test_a_billed_record_our_ledger_does_not_hold_is_a_mismatch(life: Life) -> None:
    # Given someone else billed one of our customers with our product's credentials, and we had no usage then
    life.marketplace.metering().batch_meter_usage(
        UsageRecords=[usage_record(life.subscriptions[1], "storage_gb", "4", START)]
    )
    life.move_to(START + timedelta(hours=1, minutes=10))
    life.flush()
    status, report = life.reconcile("--from", "2026-11-26T09:00Z", "--to", "2026-11-26T09:00Z")
    assert status == 1
    [row] = report["rows"]
    assert (row["account"], row["cloudtrail"], row["mismatch"]) == (
        ACCOUNTS[1],
        "4",
        "in CloudTrail but not in our ledger",
    )
    # a customer filter that names another customer leaves it out
    status, report = life.reconcile(
        "--from", "2026-11-26T09:00Z", "--to", "2026-11-26T09:00Z", "--customer", ACCOUNTS[0]
    )
    assert (status, report["rows"]) == (0, [])


def test_quantities_carried_between_hours_are_shown_as_carried_not_as_mismatches(life: Life) -> None:
    # Given an hour over one record's maximum (two events of the maximum): it bills the maximum, carries the rest
    # into the next hour, which has no usage of its own (a record of 0 events)
    most = str(MAX_INTEGER_QUANTITY)
    life.move_to(START + timedelta(minutes=10))
    life.use(0, "api_calls", MAX_INTEGER_QUANTITY, "max-1")
    life.use(0, "api_calls", 5, "max-2")
    for hours in (1, 2):
        life.move_to(START + timedelta(hours=hours, minutes=10))
        assert life.flush()["succeeded"] == 1
    # When the operator reconciles both hours
    status, report = life.reconcile("--from", "2026-11-26T09:00Z", "--to", "2026-11-26T10:00Z")
    # Then nothing disagrees, and each hour says what it carried (a failing test before: "quantity differs" in both)
    assert (status, report["mismatches"]) == (0, 0), report["rows"]
    moved = {"units": "5", "from": "2026-11-26T09:00Z", "into": "2026-11-26T10:00Z"}
    assert [(r["hour"][:13], r["accepted"], r["events"], r["sealed"], r["carried"]) for r in report["rows"]] == [
        ("2026-11-26T09", str(MAX_INTEGER_QUANTITY + 5), 2, most, [moved]),
        ("2026-11-26T10", None, 0, "5", [moved]),
    ]
    status, out, _ = life.cli("reconcile", "--from", "2026-11-26T09:00Z", "--to", "2026-11-26T10:00Z")
    assert status == 0
    assert out.count("carried 5 units from hour 2026-11-26T09:00Z into hour 2026-11-26T10:00Z") == 2


def test_a_leaving_buyers_carry_placed_in_an_earlier_hour_is_shown_as_carried(life: Life) -> None:
    # Given a buyer whose final hour (11:00) is over the maximum, with no usage in 10:00
    final = START + timedelta(hours=2)
    life.use(0, "api_calls", 4, "early")
    life.move_to(final + timedelta(minutes=6))
    assert life.flush()["succeeded"] == 1
    life.move_to(final + timedelta(minutes=10))
    life.use(0, "api_calls", MAX_INTEGER_QUANTITY, "last-1")
    life.use(0, "api_calls", 7, "last-2")
    # who leaves: their final usage bills the maximum in 11:00 and places the rest in 10:00, the latest hour of theirs
    # without a record
    cutoff = final + timedelta(minutes=45)
    life.move_to(cutoff)
    repository = DynamoCustomerRepository(life.dynamodb, life.settings.customers_table)
    customer = repository.get(CustomerRef(PRODUCT.code, license_arn=life.subscriptions[0]["license_arn"]))
    assert customer is not None
    ending = replace(customer, state=SubscriptionState.ENDING, state_changed_at=cutoff, final_usage_cutoff=cutoff)
    repository.put(ending)
    life.move_to(cutoff + timedelta(seconds=90))
    deps = life.flush_deps()
    assert send_customer_usage(ending, deps, out_of_time=lambda: False).sent == 2
    assert life.ledger()[(ACCOUNTS[0], "api_calls", "2026-11-26T10")] == Decimal(7)
    # and the hourly flush seals 11:00 after it, keeping the records sent
    life.move_to(final + timedelta(hours=1, minutes=6))
    assert life.flush()["succeeded"] == 0
    # When the operator reconciles the three hours
    status, report = life.reconcile("--from", "2026-11-26T09:00Z", "--to", "2026-11-26T11:00Z")
    # Then nothing disagrees (a failing test before: "quantity differs" in 10:00 and 11:00), and both hours say so
    assert (status, report["mismatches"]) == (0, 0), report["rows"]
    placed = {"units": "7", "from": "2026-11-26T11:00Z", "into": "2026-11-26T10:00Z"}
    assert [(r["hour"][:13], r["accepted"], r["sealed"], r["carried"]) for r in report["rows"]] == [
        ("2026-11-26T09", "4", "4", []),
        ("2026-11-26T10", None, "7", [placed]),
        ("2026-11-26T11", str(MAX_INTEGER_QUANTITY + 7), str(MAX_INTEGER_QUANTITY), [placed]),
    ]


def test_another_products_results_in_cloudtrail_show_neither_in_reconcile_nor_in_the_report(
    monthly: Life, tmp_path: Path
) -> None:
    # Given the seller's other product, metered from the same account and Region outside this stack (the emulator
    # bills it; the stack's configuration does not know it), a licence one and a legacy one
    stranger_account = "299999999999"
    monthly.marketplace.admin.create_product("other-product", ["api_calls"], customer_mode="license")
    monthly.marketplace.admin.create_product("other-legacy", ["api_calls"], customer_mode="legacy")
    strangers = [
        monthly.marketplace.admin.subscribe(code, stranger_account, start_time="2026-11-25T00:00:00Z")
        for code in ("other-product", "other-legacy")
    ]
    for stranger, code in zip(strangers, ("other-product", "other-legacy"), strict=True):
        extra = {"ProductCode": code} if code == "other-legacy" else {}
        monthly.marketplace.metering().batch_meter_usage(
            UsageRecords=[usage_record(stranger, "api_calls", 8, FIRST_OF_MONTH)], **extra
        )
    # and our buyer's usage of the same hour, billed
    monthly.use(0, "api_calls", 3, "a1")
    monthly.move_to(FIRST_OF_MONTH + timedelta(hours=1, minutes=10))
    assert monthly.flush()["succeeded"] == 1
    # When the operator reconciles the hour
    status, report = monthly.reconcile("--from", OPENING, "--to", OPENING)
    # Then only our buyer is there, in agreement
    assert (status, report["mismatches"]) == (0, 0), report["rows"]
    assert [r["account"] for r in report["rows"]] == [ACCOUNTS[0]]
    # and when the operator writes the month's report (a failing test before: the other product's two results
    # were mismatches, their buyer's account id printed)
    page = tmp_path / "report.html"
    status, out, err = monthly.cli("report", "--month", "2026-12", "--html", str(page))
    assert (status, out) == (0, f"wrote {page}: 1 records billed, 0 mismatches\n"), err
    html = page.read_text()
    assert 'data-testid="no-mismatches"' in html
    for shown in (stranger_account, strangers[0]["license_arn"], strangers[1]["customer_identifier"]):
        assert shown not in html
        assert shown not in out


def _cloudtrail_serving(events: list[dict[str, Any]]) -> tuple[ThreadingHTTPServer, str]:
    """A stand-in for CloudTrail's LookupEvents over HTTP, answering ``events`` (one page), as AWS's JSON protocol
    does: what the emulator never logs (it logs what it received, faithfully), for boto3 to read unmodified."""

    class Answer(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps({"Events": events}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_cloudtrail_results_that_cannot_be_read_are_counted_and_shown(monthly: Life, tmp_path: Path) -> None:
    # Given our buyer's hour billed, and CloudTrail's history of it with, beside its call, an event whose
    # CloudTrailEvent is not JSON and a call whose result has lost its timestamp
    monthly.use(0, "api_calls", 3, "a1")
    monthly.move_to(FIRST_OF_MONTH + timedelta(hours=1, minutes=10))
    assert monthly.flush()["succeeded"] == 1
    logged = monthly.marketplace.cloudtrail().lookup_events(StartTime=FIRST_OF_MONTH)["Events"]
    events = [{**e, "EventTime": e["EventTime"].timestamp()} for e in logged]
    [call] = [json.loads(e["CloudTrailEvent"]) for e in events]
    del call["responseElements"]["results"][0]["usageRecord"]["timestamp"]
    at = events[0]["EventTime"]
    events += [
        {"EventId": "e-not-json", "EventName": "BatchMeterUsage", "EventTime": at, "CloudTrailEvent": "{not json"},
        {"EventId": "e-no-time", "EventName": "BatchMeterUsage", "EventTime": at, "CloudTrailEvent": json.dumps(call)},
    ]
    server, url = _cloudtrail_serving(events)
    try:
        client = aws_client("cloudtrail", url)
        monthly.reading_cloudtrail(lambda unreadable: CloudTrailReader(client, unreadable))
        # When the operator reconciles the hour
        status, report = monthly.reconcile("--from", OPENING, "--to", OPENING)
        # Then what was read agrees, and what was not is counted, named by its event, never dropped in silence (a
        # failing test before: both were skipped, and the reconciliation said all was well)
        assert (status, report["mismatches"]) == (1, 0), report
        assert [(r["account"], r["mismatch"]) for r in report["rows"]] == [(ACCOUNTS[0], None)]
        assert report["unreadable"] == [
            {"event_id": "e-not-json", "why": "its CloudTrailEvent is not JSON"},
            {"event_id": "e-no-time", "why": "a usageRecord without a readable timestamp"},
        ]
        status, out, _ = monthly.cli("reconcile", "--from", OPENING, "--to", OPENING)
        assert status == 1
        assert "2 CloudTrail results could not be read" in out
        # and the month's report says so too
        page = tmp_path / "report.html"
        status, out, err = monthly.cli("report", "--month", "2026-12", "--html", str(page))
        assert status == 0, err
        assert out.endswith("0 mismatches, 2 CloudTrail results could not be read\n")
        assert "2 CloudTrail results could not be read" in page.read_text()
    finally:
        server.shutdown()
        server.server_close()


def test_bad_options_exit_2_and_name_them(life: Life) -> None:
    for argv, named in [
        (["reconcile", "--from", "yesterday"], "--from: 'yesterday'"),
        (["reconcile", "--customer", "999999999999"], "unknown customer: '999999999999'"),
        (["reconcile", "--from", "1h", "--to", "2h"], "is after"),
    ]:
        status, out, err = life.cli(*argv)
        assert (status, out) == (2, ""), argv
        assert named in err


# --- the flush's reconciliation of every settled hour, once (its metrics feed the dashboard widget and the alarms) ----


def _published(capsys: pytest.CaptureFixture[str], name: str) -> list[float]:
    metrics.flush_metrics()
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    values = [d[name] for d in documents if name in d]
    return [float(v[0] if isinstance(v, list) else v) for v in values]


def _reconcile(settings: Settings, at: datetime) -> Reconciled | None:
    return reconcile(flush_wiring.audit(settings), at, lambda: False)


PRODUCTS = [
    {
        "code": PRODUCT.code,
        "name": PRODUCT.name,
        "dimensions": [{"name": "api_calls"}, {"name": "storage_gb", "quantity_type": "decimal"}],
    }
]


def test_the_flush_reconciles_each_settled_hour_once_and_counts_its_mismatches(
    life: Life, handler_environment: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = handler_environment(PRODUCTS)
    # Given hour 09 billed in full
    life.use(0, "api_calls", 3, "a1")
    life.move_to(START + timedelta(hours=1, minutes=10))
    assert life.flush()["succeeded"] == 1
    # When the flush reconciles three hours on: every hour Marketplace may still bill, 09 the last, none differing
    capsys.readouterr()
    done = _reconcile(settings, START + timedelta(hours=3, minutes=5))
    assert done is not None
    assert done.behind == 0
    assert done.hours[-1].hour == START
    assert all(h.findings == [] for h in done.hours)
    assert set(_published(capsys, "ReconciliationMismatches")) == {0.0}
    # and again: nothing is reconciled twice
    again = _reconcile(settings, START + timedelta(hours=3, minutes=6))
    assert again is not None
    assert again.hours == []
    assert _published(capsys, "ReconciliationMismatches") == []
    # Given hour 10: a record sent whose event CloudTrail has not delivered, and one AWS billed we hold no record of
    life.marketplace.metering().batch_meter_usage(
        UsageRecords=[usage_record(life.subscriptions[2], "storage_gb", "4", START + timedelta(hours=1))]
    )
    life.use(1, "api_calls", 8, "b1")
    life.move_to(START + timedelta(hours=2, minutes=10))
    life.marketplace.admin.put_config(cloudtrail_delivery_delay_seconds=86400)
    assert life.flush()["succeeded"] == 1
    # Then its reconciliation counts both, names them in the log, and publishes the count
    done = _reconcile(settings, START + timedelta(hours=4, minutes=5))
    assert done is not None
    assert [h.hour for h in done.hours] == [START + timedelta(hours=1)]
    assert sorted((f.customer, f.kind) for f in done.hours[0].findings) == sorted(
        [
            (life.subscriptions[1]["license_arn"], "sent but absent from CloudTrail"),
            (life.subscriptions[2]["license_arn"], "in CloudTrail but not in our ledger"),
        ]
    )
    assert _published(capsys, "ReconciliationMismatches") == [2.0]


def test_an_hour_not_sealed_stops_the_reconciliation_there_and_the_next_run_catches_up(
    life: Life, handler_environment: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a running stack, usage in hour 09, and no flush for three hours (an outage): hour 09 is not sealed
    settings = handler_environment(PRODUCTS)
    life.move_to(START + timedelta(minutes=6))
    assert life.flush()["succeeded"] == 0
    life.use(0, "api_calls", 3, "a1")
    capsys.readouterr()
    # a failing test here on the code before the cursor: the hourly check looked at one hour, 09, and moved on
    waiting = _reconcile(settings, START + timedelta(hours=3, minutes=5))
    assert waiting is not None
    assert waiting.behind == 1
    assert "not sealed" in (waiting.waiting or "")
    assert START not in [h.hour for h in waiting.hours]
    assert _published(capsys, "ReconciliationHoursBehind") == [1.0]
    # When the flush comes back, seals and bills it
    life.move_to(START + timedelta(hours=3, minutes=10))
    assert life.flush()["succeeded"] == 1
    # Then the reconciliation waits for CloudTrail to show it (20 minutes), then reconciles 09, and catches up
    assert (_reconcile(settings, START + timedelta(hours=3, minutes=15)) or waiting).hours == []
    done = _reconcile(settings, START + timedelta(hours=4, minutes=5))
    assert done is not None
    assert [h.hour for h in done.hours] == [START, START + timedelta(hours=1)]
    assert all(h.findings == [] for h in done.hours)
    assert done.behind == 0


def test_an_unreadable_cloudtrail_is_published_not_raised(
    life: Life, handler_environment: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = handler_environment(PRODUCTS)
    life.use(0, "api_calls", 3, "a1")
    life.move_to(START + timedelta(hours=1, minutes=10))
    assert life.flush()["succeeded"] == 1
    life.marketplace.admin.queue_errors({"operation": "LookupEvents", "code": "AccessDeniedException", "status": 403})
    capsys.readouterr()
    assert _reconcile(settings, START + timedelta(hours=3)) is None
    assert _published(capsys, "ReconciliationUnavailable") == [1.0]
    assert _published(capsys, "ReconciliationMismatches") == []


def test_an_unreadable_ledger_is_published_not_raised(
    life: Life, handler_environment: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    # the flush has billed by the time it checks: a store it cannot read then must not fail it (and be retried)
    settings = replace(handler_environment(PRODUCTS), metering_table="no-such-table")
    capsys.readouterr()
    assert _reconcile(settings, START + timedelta(hours=3)) is None
    assert _published(capsys, "ReconciliationUnavailable") == [1.0]


def test_each_buyers_entitlement_status_is_shown_beside_them(life: Life) -> None:
    # Given two buyers registered with their agreements, one of which has since ended
    repository = DynamoCustomerRepository(life.dynamodb, life.settings.customers_table)
    for subscription in life.subscriptions[:2]:
        ref = CustomerRef(PRODUCT.code, license_arn=subscription["license_arn"])
        customer = repository.get(ref)
        assert customer is not None
        repository.put(replace(customer, agreement_id=subscription["agreement_id"]))
    life.use(0, "api_calls", 5, "e-0")
    life.use(1, "api_calls", 6, "e-1")
    life.marketplace.admin.finalize(life.subscriptions[1]["agreement_id"])
    life.move_to(START + timedelta(hours=1, minutes=10))
    # When the operator reconciles
    _, report = life.reconcile("--from", "2026-11-26T09:00Z", "--to", "2026-11-26T09:00Z")
    # Then GetAgreementEntitlements' status (and reason) is beside each buyer; none for a buyer with no agreement known
    shown = {r["account"]: r["entitlement"] for r in report["rows"]}
    assert shown == {ACCOUNTS[0]: "PROVISIONED", ACCOUNTS[1]: "DEPROVISIONED (AGREEMENT_INACTIVE)"}
    assert len(life.marketplace.admin.calls(operation="GetAgreementEntitlements")) == 2
