"""The operator CLI's own logic, with in-memory fakes of our interfaces: no AWS, no DynamoDB."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.flush.records import MeteringEntry, MeteringRecord, Placement, RetentionFloor
from functions.settings import Dimension, Product, Settings
from operations.cli import CommandError, ProgressBar, main, moment, table
from operations.flushing import FlushProgress, flush_deployed
from operations.queries import OperationsDeps, UnknownName, select
from operations.redrive import redrive, refusal
from operations.target import (
    StackResource,
    Target,
    TargetError,
    local_settings,
    resolve_regional,
    resolve_stack,
)
from tests.fakes import LONG_KEPT, InMemoryCustomers, InMemoryUsage

NOW = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)
HOUR = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)
PRODUCT = Product(code="unit-product", name="Unit", dimensions=(Dimension(name="api_calls"),))
LICENCE = "arn:aws:license-manager::1:license:l-abc"


def entry(status: str, *, reason: str | None = None, record_id: str | None = None, hour: datetime = HOUR) -> Any:
    record = MeteringRecord(
        key=f"{PRODUCT.code}#LICENSE#{LICENCE}#api_calls",
        hour=hour,
        product_code=PRODUCT.code,
        customer_key=f"LICENSE#{LICENCE}",
        customer_aws_account_id="111122223333",
        dimension="api_calls",
        quantity=Decimal(4),
        integer=True,
        license_arn=LICENCE,
    )
    return MeteringEntry(record, status, record_id, reason)


class FakeMetering:
    """Sealed hours up to NOW's; requeue as the DynamoDB view does it: only a record still parked as seen."""

    def retention_floor(self) -> RetentionFloor:
        return LONG_KEPT

    def __init__(self, *entries: MeteringEntry) -> None:
        self.entries = {(e.record.hour, e.record.key): e for e in entries}

    def next_hour_to_seal(self) -> datetime | None:
        return NOW.replace(minute=0)

    def records_of_hour(self, hour: datetime) -> Iterator[MeteringEntry]:
        return iter([e for (h, _), e in self.entries.items() if h == hour])

    def sealed_in_dry_run(self, hour: datetime) -> bool:
        return False

    def modes_kept_since(self) -> datetime | None:
        return None

    def carried_into(self, hour: datetime) -> list[MeteringRecord]:
        return []

    def placements_into(self, hour: datetime) -> list[tuple[MeteringRecord, Placement]]:
        return []

    def pending_count(self) -> int:
        return sum(e.status == "pending" for e in self.entries.values())

    def requeue(self, seen: MeteringEntry) -> bool:
        key = (seen.record.hour, seen.record.key)
        if self.entries.get(key) != seen:
            return False
        self.entries[key] = MeteringEntry(seen.record, "pending")
        return True


def deps(*entries: MeteringEntry, now: datetime = NOW) -> OperationsDeps:
    customer = Customer(
        ref=CustomerRef(PRODUCT.code, license_arn=LICENCE),
        customer_aws_account_id="111122223333",
        state=SubscriptionState.ACTIVE,
        state_changed_at=NOW,
    )
    customers = InMemoryCustomers()
    customers.put(customer)
    return OperationsDeps(
        settings=Settings(products=(PRODUCT,)),
        customers=customers,
        usage=InMemoryUsage(),
        metering=FakeMetering(*entries),
        clock=ManualClock(now),
    )


# --- redrive: exactly once holds --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parked", "refused_because"),
    [
        (entry("duplicate", reason="DuplicateRecord", record_id="m-1"), "DuplicateRecord"),
        (entry("sent", record_id="m-1"), "Marketplace accepted it"),
        (entry("not_subscribed", reason="CustomerNotSubscribed"), "CustomerNotSubscribed"),
        (entry("pending"), "not parked"),
        (entry("failed", reason="QuantityTooLarge"), "QuantityTooLarge"),
        (entry("failed", reason="CarriedPastEnd"), "no hour of the leaving buyer's subscription"),
        (entry("failed", reason="InvalidLicenseException", hour=NOW - timedelta(hours=25)), "24-hour window"),
    ],
)
def test_records_marketplace_accepted_or_can_no_longer_take_are_refused(
    parked: MeteringEntry, refused_because: str
) -> None:
    why = refusal(parked, NOW)
    assert why is not None
    assert refused_because in why


def test_last_months_record_is_refused_after_the_month_end_cutoff() -> None:
    # Given a record of 23:00 on the last day of the month, 7 hours later (inside 24 hours, past 06:00 on the 1st)
    last_hour = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    why = refusal(
        entry("failed", reason="InvalidLicenseException", hour=last_hour), datetime(2026, 12, 1, 6, 30, tzinfo=UTC)
    )
    assert why is not None
    assert "month-end" in why


def test_a_record_marketplace_refused_as_a_whole_request_may_go_again() -> None:
    assert refusal(entry("failed", reason="InvalidUsageDimensionException"), NOW) is None


def test_redrive_requeues_only_what_may_go_again_and_only_once() -> None:
    refused = entry("duplicate", reason="DuplicateRecord", record_id="m-1", hour=HOUR - timedelta(hours=1))
    fixable = entry("failed", reason="InvalidLicenseException")
    operations = deps(refused, fixable)
    selection = select(operations, since=NOW - timedelta(hours=6), until=NOW)
    # a dry run changes nothing
    assert [o.outcome for o in redrive(operations, selection, dry_run=True)] == ["refused", "would_requeue"]
    assert operations.metering.pending_count() == 0
    assert [o.outcome for o in redrive(operations, selection)] == ["refused", "requeued"]
    assert operations.metering.pending_count() == 1
    # requeued records are pending, no longer parked: a second redrive leaves them alone
    assert [o.outcome for o in redrive(operations, selection)] == ["refused"]


def test_a_record_changed_since_it_was_read_is_not_requeued() -> None:
    class ChangedMeanwhile(FakeMetering):
        def requeue(self, seen: MeteringEntry) -> bool:
            return False

    operations = deps(entry("failed", reason="InvalidLicenseException"))
    operations = OperationsDeps(
        operations.settings,
        operations.customers,
        operations.usage,
        ChangedMeanwhile(*operations.metering.records_of_hour(HOUR)),
        operations.clock,
    )
    [outcome] = redrive(operations, select(operations, since=HOUR, until=NOW))
    assert (outcome.outcome, outcome.why.startswith("changed meanwhile")) == ("changed", True)


# --- names --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"product": "nope"}, "unknown product: 'nope' (known: unit-product)"),
        ({"dimension": "nope"}, "unknown dimension: 'nope' (known: api_calls)"),
        ({"customer": "999999999999"}, "unknown customer: '999999999999' (known: 111122223333)"),
    ],
)
def test_unknown_names_are_named_with_what_is_known(filters: dict[str, str], message: str) -> None:
    with pytest.raises(UnknownName, match=message.replace("(", r"\(").replace(")", r"\)")):
        select(deps(), since=HOUR, until=NOW, **filters)


@pytest.mark.parametrize("name", [LICENCE, "111122223333", f"LICENSE#{LICENCE}"])
def test_a_customer_is_found_by_licence_account_or_key(name: str) -> None:
    selection = select(deps(), since=HOUR, until=NOW, customer=name)
    assert selection.customer_keys == frozenset({f"LICENSE#{LICENCE}"})


# --- command line -------------------------------------------------------------------------------------------------


def test_moments_are_relative_or_iso_and_utc_unless_said() -> None:
    assert moment("90m", NOW, "--since") == NOW - timedelta(minutes=90)
    assert moment("2d", NOW, "--since") == NOW - timedelta(days=2)
    assert moment("2026-11-26T09:00", NOW, "--since") == datetime(2026, 11, 26, 9, tzinfo=UTC)
    assert moment("2026-11-26T10:00+01:00", NOW, "--until") == datetime(2026, 11, 26, 9, tzinfo=UTC)
    with pytest.raises(CommandError, match="--until: 'soon'"):
        moment("soon", NOW, "--until")


def test_tables_align_columns_under_their_headings() -> None:
    text = table([{"a": "x", "b": 12345}, {"a": "longer", "b": None}], [("A", "a"), ("NUMBER", "b")])
    assert text.splitlines() == ["A       NUMBER", "x       12345", "longer"]


def test_the_progress_bar_fills_with_records_done_and_redraws_one_line() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream, width=10)
    bar(FlushProgress(hours_sealed=3, records_known=40, records_done=10))
    bar(FlushProgress(hours_sealed=3, records_known=40, records_done=40))
    bar.close()
    assert stream.getvalue() == (
        "\r[##--------] 10/40 records, 3 hours sealed\r[##########] 40/40 records, 3 hours sealed\n"
    )
    assert bar.line(FlushProgress(pending=7)) == "flushing... 7 records pending"


def run_cli(*argv: str, environ: dict[str, str] | None = None) -> tuple[int, str]:
    err = io.StringIO()
    return main(list(argv), out=io.StringIO(), err=err, environ=environ or {}), err.getvalue()


def test_without_a_local_stack_or_a_stack_name_it_says_how_to_get_one(tmp_path: Path) -> None:
    status, err = run_cli("customers", "--run-file", str(tmp_path / "none.json"))
    assert status == 2
    assert "no local stack: start one with `make run`" in err


def test_a_profile_without_a_stack_name_is_refused(tmp_path: Path) -> None:
    status, err = run_cli("usage", "--profile", "prod", "--run-file", str(tmp_path / "none.json"))
    assert (status, err) == (2, "error: --profile and --region go with --stack NAME\n")


def test_an_unknown_command_exits_2_naming_it() -> None:
    status, err = run_cli("refund")
    assert status == 2
    assert "invalid choice: 'refund'" in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["report", "--month", "9999-12", "--html", "r.html"], "--month: '9999-12'"),
        (["report", "--month", "2020-01", "--html", "r.html"], "--month: 2020-01 ended more than the 400 days"),
        (["report", "--month", "2026-11", "--html", "dir/\x00.html"], "--html:"),
        (["usage", "--since", "99999999d"], "--since: '99999999d'"),
        (["usage", "--until", "999999999999999999999h"], "--until:"),
        (["usage", "--since", "0001-01-01"], "--since: 0001-01-01T00:00:00+00:00 is before"),
        (["failed", "--until", "9999-12-31T23:00"], "--until: 9999-12-31T23:00:00+00:00 is more than a day ahead"),
        (["reconcile", "--from", "2099-01-01"], "--from: 2099-01-01T00:00:00+00:00 is more than a day ahead"),
        (["usage", "--since", "-5h"], "argument --since: expected one argument"),
        (["usage", "--bogus"], "unrecognized arguments: --bogus"),
        (["customers", "--tenant", "acme 42"], "--tenant: tenant_id must be"),
        (["customers", "--stack", "not a stack"], "--stack: 'not a stack' is not a stack name"),
        (["customers", "--stack", "Metering", "--region", "moon-1"], "--region: 'moon-1' is not a Region name"),
        (["customers", "--run-file", "x" * 10_000], "--run-file: cannot read"),
        (["usage", "--customer", "9" * 10_000], "unknown customer: '99999"),
    ],
)
def test_an_argument_out_of_range_answers_one_line_and_exits_2(argv: list[str], says: str, tmp_path: Path) -> None:
    # Given the CLI on a stack (fakes of our interfaces), its clock at NOW
    target = Target("fake", deps(), lambda _: {}, InMemoryCustomers(), trail=lambda _: FakeTrail())
    argv = [a.replace("r.html", str(tmp_path / "r.html")).replace("dir/", f"{tmp_path}/") for a in argv]
    out, err = io.StringIO(), io.StringIO()
    # When an argument is out of range, malformed or unknown
    chooses = None if {"--stack", "--run-file"} & set(argv) else (lambda _: target)
    status = main(argv, out=out, err=err, target=chooses, environ={})
    # Then one line names it, the exit status is 2, nothing was written or read beyond it
    assert status == 2
    assert err.getvalue().startswith("error: ")
    assert says in err.getvalue()
    assert err.getvalue().count("\n") == 1
    assert len(err.getvalue()) < 600
    assert out.getvalue() == ""
    assert list(tmp_path.iterdir()) == []


def test_the_local_stack_is_found_through_its_run_file_else_the_environment(tmp_path: Path) -> None:
    run_file = tmp_path / "local.json"
    run_file.write_text('{"environment": {"DYNAMODB_ENDPOINT": "http://127.0.0.1:1", "USAGE_TABLE": "u"}}')
    found = local_settings(run_file, {"DYNAMODB_ENDPOINT": "http://127.0.0.1:2"})
    assert found is not None
    assert (found.settings.dynamodb_endpoint, found.settings.usage_table) == ("http://127.0.0.1:1", "u")
    found = local_settings(tmp_path / "none.json", {"DYNAMODB_ENDPOINT": "http://127.0.0.1:2"})
    assert found is not None
    assert found.settings.dynamodb_endpoint == "http://127.0.0.1:2"
    assert local_settings(tmp_path / "none.json", {}) is None


def test_a_local_stack_metering_in_other_regions_is_read_with_their_tables(tmp_path: Path) -> None:
    # Given make run REGIONS=eu-west-1's run file: the main stack and, beside it, the Region's own tables
    run_file = tmp_path / "local.json"
    main_stack = {"DYNAMODB_ENDPOINT": "http://127.0.0.1:1", "USAGE_TABLE": "u", "OTHER_METERING_REGIONS": "eu-west-1"}
    regional = {**main_stack, "AWS_REGION": "eu-west-1", "USAGE_TABLE": "u-eu-west-1", "OTHER_METERING_REGIONS": ""}
    run_file.write_text(json.dumps({"environment": main_stack, "regions": {"eu-west-1": regional}}))
    # When the CLI finds the stack, then it finds the Region's stack with its own Region and usage table
    found = local_settings(run_file, {})
    assert found is not None
    assert [(r.region, r.usage_table) for r in found.regions] == [("eu-west-1", "u-eu-west-1")]
    # and a run file naming a metering Region it does not describe is refused, naming the Region, never half read
    run_file.write_text(json.dumps({"environment": main_stack}))
    with pytest.raises(TargetError, match=r"names metering Regions it does not describe: eu-west-1"):
        local_settings(run_file, {})


def test_the_cli_runs_a_command_on_the_target_it_is_given() -> None:
    out, err = io.StringIO(), io.StringIO()
    target = Target("fake", deps(entry("failed", reason="InvalidLicenseException")), lambda _: {}, InMemoryCustomers())
    assert main(["failed"], out=out, err=err, target=lambda _: target) == 0, err.getvalue()
    heading, row = out.getvalue().splitlines()
    assert heading.split()[-2:] == ["REASON", "REDRIVE"]
    assert row.split()[-3:] == ["failed", "InvalidLicenseException", "yes"]


class FakeTrail:
    """CloudTrail with nothing in it."""

    def metering_results(self, start: datetime, end: datetime | None = None) -> Iterator[Any]:
        return iter(())


# --- a deployed stack, resolved through a fake of our lookup interface (never AWS) ---------------------------------


class FakeStacks:
    def __init__(
        self, resources: list[StackResource], environment: dict[str, str], name: str = "MarketplaceMetering"
    ) -> None:
        self._name = name
        self._resources = resources
        self._environment = environment
        self.environment_of: list[str] = []

    def resources(self, stack_name: str) -> list[StackResource]:
        if stack_name != self._name:
            raise UnknownName("stack", stack_name)
        return self._resources

    def function_environment(self, function_name: str) -> dict[str, str]:
        self.environment_of.append(function_name)
        return self._environment


DEPLOYED = [
    StackResource("TablesCustomersB22215AC", "prod-customers", "AWS::DynamoDB::GlobalTable"),
    StackResource("TablesContactsF93627A8", "prod-contacts", "AWS::DynamoDB::GlobalTable"),
    StackResource("TablesUsageA60E9525", "prod-usage", "AWS::DynamoDB::GlobalTable"),
    StackResource("TablesMetering32CD4458", "prod-metering", "AWS::DynamoDB::GlobalTable"),
    StackResource("TablesIdempotency498FF680", "prod-idempotency", "AWS::DynamoDB::GlobalTable"),
    StackResource("FlushFunction1A2B3C4D", "prod-flush-fn", "AWS::Lambda::Function"),
    StackResource("FlushFunctionLogs9F8E7D6C", "/aws/lambda/prod-flush-fn", "AWS::Logs::LogGroup"),
    StackResource("UsageApiFunction5E6F7A8B", "prod-usage-fn", "AWS::Lambda::Function"),
]
FLUSH_ENVIRONMENT = {
    "PRODUCTS": '[{"code": "unit-product", "name": "Unit", "dimensions": [{"name": "api_calls"}]}]',
    "FLUSH_GRACE_SECONDS": "600",
    "USAGE_TABLE": "stale-name-ignored",
}


def test_a_deployed_stack_resolves_to_its_tables_flush_function_and_products() -> None:
    stacks = FakeStacks(DEPLOYED, FLUSH_ENVIRONMENT)
    stack = resolve_stack(stacks, "MarketplaceMetering", "eu-west-1")
    assert stack.flush_function == "prod-flush-fn"
    assert stacks.environment_of == ["prod-flush-fn"]
    settings = stack.settings
    assert (settings.customers_table, settings.usage_table, settings.metering_table, settings.idempotency_table) == (
        "prod-customers",
        "prod-usage",
        "prod-metering",
        "prod-idempotency",
    )
    assert (settings.region, settings.flush_grace_seconds, [p.code for p in settings.products]) == (
        "eu-west-1",
        600,
        ["unit-product"],
    )
    assert settings.dynamodb_endpoint is None


def test_a_stack_that_is_not_ours_or_does_not_exist_is_named() -> None:
    without_flush = [r for r in DEPLOYED if not r.logical_id.startswith("Flush")]
    with pytest.raises(TargetError, match=r"'Other' is not a metering stack \(missing: the flush function\)"):
        resolve_stack(FakeStacks(without_flush, {}, name="Other"), "Other", "eu-west-1")
    with pytest.raises(UnknownName, match="unknown stack: 'Nope'"):
        resolve_stack(FakeStacks(DEPLOYED, {}), "Nope", "eu-west-1")


def test_a_deployed_regions_metering_stack_resolves_to_its_own_tables_and_the_customers_replica() -> None:
    # Given cdk.json `regions` deploying MarketplaceMetering-eu-west-1: its usage and metering tables, its flush naming
    # the customers table's replica there
    regional = [r for r in DEPLOYED if r.logical_id.startswith(("TablesUsage", "TablesMetering", "Flush"))]
    stacks = FakeStacks(
        regional, {**FLUSH_ENVIRONMENT, "CUSTOMERS_TABLE": "prod-customers"}, "MarketplaceMetering-eu-west-1"
    )
    # When the CLI resolves the Region's stack by the main stack's name
    settings = resolve_regional(stacks, "MarketplaceMetering", "eu-west-1")
    # Then it reads that Region's tables there
    assert (settings.region, settings.usage_table, settings.metering_table, settings.customers_table) == (
        "eu-west-1",
        "prod-usage",
        "prod-metering",
        "prod-customers",
    )


def test_a_deployed_flush_is_watched_through_the_pending_count_until_it_answers() -> None:
    answered = threading.Event()
    counts = iter([5, 2])
    seen: list[FlushProgress] = []

    def pending_count() -> int:
        count = next(counts)
        if count == 2:
            answered.set()  # the function answers once its backlog has shrunk to 2
        return count

    def invoke() -> dict[str, Any]:
        assert answered.wait(timeout=30)
        return {"succeeded": 3}

    result = flush_deployed(invoke, pending_count, seen.append, poll_seconds=0.01)
    assert result == {"succeeded": 3}
    assert [p.pending for p in seen] == [5, 2]
