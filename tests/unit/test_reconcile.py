"""The reconciliation's rules on in-memory fakes, and CloudTrail's BatchMeterUsage entry read as AWS documents it."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.flush.audit import AuditDeps, TrailResult, Unreadable, UnreadableSink, audit_hour, settled_hour
from functions.flush.records import PARKED_CARRY, MeteringEntry, MeteringRecord, Placement, RetentionFloor
from functions.marketplace.cloudtrail import results_of
from functions.settings import Dimension, Product, Settings
from functions.usage.model import MAX_INTEGER_QUANTITY, UsageEvent
from operations.adjust import over_billed
from operations.queries import MeteringRegion, OperationsDeps, select
from operations.reconcile import reconcile, reconcile_regions
from tests.fakes import LONG_KEPT, InMemoryCustomers, InMemoryUsage

NOW = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)
HOUR = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)
PRODUCT = Product(code="unit-product", name="Unit", dimensions=(Dimension(name="api_calls"),))
LICENCE = "arn:aws:license-manager::1:license:l-abc"
ACCOUNT = "111122223333"


def record(quantity: int) -> MeteringRecord:
    return MeteringRecord(
        key=f"{PRODUCT.code}#LICENSE#{LICENCE}#api_calls",
        hour=HOUR,
        product_code=PRODUCT.code,
        customer_key=f"LICENSE#{LICENCE}",
        customer_aws_account_id=ACCOUNT,
        dimension="api_calls",
        quantity=Decimal(quantity),
        integer=True,
        license_arn=LICENCE,
    )


class Ledger:
    def retention_floor(self) -> RetentionFloor:
        return LONG_KEPT

    def __init__(self, *entries: MeteringEntry) -> None:
        self.entries = list(entries)
        self.next: datetime | None = HOUR + timedelta(hours=1)
        # carries by the hour they are kept under (the one after their own), as placed or not
        self.carries: dict[datetime, list[tuple[MeteringRecord, Placement | None]]] = {}

    def carried_into(self, hour: datetime) -> list[MeteringRecord]:
        return [record for record, placed in self.carries.get(hour, []) if placed is None]

    def placements_into(self, hour: datetime) -> list[tuple[MeteringRecord, Placement]]:
        return [(record, placed) for record, placed in self.carries.get(hour, []) if placed is not None]

    def next_hour_to_seal(self) -> datetime | None:
        return self.next

    def records_of_hour(self, hour: datetime) -> Iterator[MeteringEntry]:
        return iter([e for e in self.entries if e.record.hour == hour])

    def sealed_in_dry_run(self, hour: datetime) -> bool:
        return False

    def modes_kept_since(self) -> datetime | None:
        return None

    def pending_count(self) -> int:
        return 0

    def requeue(self, entry: MeteringEntry) -> bool:
        return False


class Trail:
    """CloudTrail's results, and those it could not read (reported to the sink it was built with)."""

    def __init__(self, *results: TrailResult, unreadable: tuple[Unreadable, ...] = ()) -> None:
        self.results = list(results)
        self.unreadable = unreadable
        self.asked: list[datetime] = []
        self.report: UnreadableSink = lambda gap: None

    def __call__(self, report: UnreadableSink) -> Trail:
        self.report = report
        return self

    def metering_results(self, start: datetime, end: datetime | None = None) -> Iterator[TrailResult]:
        self.asked.append(start)
        for gap in self.unreadable:
            self.report(gap)
        return iter(self.results)


def trail_result(quantity: int, status: str = "Success", record_id: str | None = "m-1") -> TrailResult:
    return TrailResult(LICENCE, ACCOUNT, "api_calls", HOUR, Decimal(quantity), status, record_id, NOW)


def deps(accepted: list[int], *entries: MeteringEntry, now: datetime = NOW) -> OperationsDeps:
    customers = InMemoryCustomers()
    customers.put(
        Customer(
            ref=CustomerRef(PRODUCT.code, license_arn=LICENCE),
            customer_aws_account_id=ACCOUNT,
            state=SubscriptionState.ACTIVE,
            state_changed_at=NOW,
        )
    )
    usage = InMemoryUsage()
    usage.add(
        [
            UsageEvent(
                event_id=f"e{index}",
                product_code=PRODUCT.code,
                customer_key=f"LICENSE#{LICENCE}",
                customer_aws_account_id=ACCOUNT,
                dimension="api_calls",
                quantity=Decimal(quantity),
                timestamp=HOUR + timedelta(minutes=index),
                received_at=HOUR + timedelta(minutes=index),
                license_arn=LICENCE,
            )
            for index, quantity in enumerate(accepted)
        ]
    )
    return OperationsDeps(
        settings=Settings(products=(PRODUCT,)),
        customers=customers,
        usage=usage,
        metering=Ledger(*entries),
        clock=ManualClock(now),
    )


def run(ops: OperationsDeps, trail: Trail) -> list[tuple[str | None, str | None]]:
    result = reconcile(ops, trail, select(ops, since=HOUR, until=HOUR))
    return [(r.mismatch, r.detail) for r in result.rows]


def test_all_sides_agree() -> None:
    ops = deps([3, 4], MeteringEntry(record(7), "sent", "m-1"))
    assert run(ops, Trail(trail_result(7))) == [(None, None)]


@pytest.mark.parametrize(
    ("accepted", "entry", "trail", "mismatch", "said"),
    [
        (
            [3, 4],
            MeteringEntry(record(6), "sent", "m-1"),
            [trail_result(6)],
            "quantity differs",
            "accepted 7 units, sealed 6",
        ),
        ([7], MeteringEntry(record(7), "sent", "m-1"), [trail_result(8)], "quantity differs", "CloudTrail shows 8"),
        ([7], MeteringEntry(record(7), "sent", "m-1"), [], "sent but absent from CloudTrail", "m-1"),
        (
            [7],
            MeteringEntry(record(7), "sent", "m-1"),
            [trail_result(7, "DuplicateRecord")],
            "sent but absent from CloudTrail",
            "m-1",
        ),
        ([7], MeteringEntry(record(7), "pending"), [], "not yet sent", "waiting for the flush"),
        ([7], MeteringEntry(record(7), "failed", None, "TimestampOutOfBounds"), [], "failed", "TimestampOutOfBounds"),
        ([7], MeteringEntry(record(7), "not_subscribed"), [], "parked", "CustomerNotSubscribed"),
        ([7], MeteringEntry(record(7), "dry_run"), [], None, "sealed in dry run"),
    ],
)
def test_each_disagreement_is_named(
    accepted: list[int], entry: MeteringEntry, trail: list[TrailResult], mismatch: str | None, said: str | None
) -> None:
    [(found, detail)] = run(deps(accepted, entry), Trail(*trail))
    assert found == mismatch
    assert (detail is None) if said is None else (said in (detail or ""))


def test_every_region_is_reconciled_against_its_own_cloudtrail_each_row_naming_it() -> None:
    # Given the main Region billed 7 as CloudTrail shows there, and eu-west-1 sealed 5 that its CloudTrail shows as 6
    home = deps([7], MeteringEntry(record(7), "sent", "m-1"))
    away = deps([5], MeteringEntry(record(5), "sent", "m-1"))
    away = replace(away, settings=replace(away.settings, region="eu-west-1"))
    regions = [MeteringRegion(home, Trail(trail_result(7))), MeteringRegion(away, Trail(trail_result(6)))]
    # When both are reconciled
    result = reconcile_regions(regions, select(home, since=HOUR, until=HOUR))
    # Then each Region's row is checked against its own CloudTrail, and names its Region
    assert result.regions == ("us-east-1", "eu-west-1")
    assert [(r.region, r.sealed, r.cloudtrail, r.mismatch) for r in result.rows] == [
        ("us-east-1", Decimal(7), Decimal(7), None),
        ("eu-west-1", Decimal(5), Decimal(6), "quantity differs"),
    ]
    # and a Region whose CloudTrail cannot be read is named, never left out
    with pytest.raises(ValueError, match="eu-west-1 has no CloudTrail"):
        reconcile_regions([regions[0], MeteringRegion(away)], select(home, since=HOUR, until=HOUR))


def test_an_hour_still_taking_usage_is_not_due_and_a_closed_unsealed_one_is() -> None:
    open_hour = deps([5], now=HOUR + timedelta(minutes=30))
    open_hour.metering.next = HOUR  # type: ignore[attr-defined]
    assert run(open_hour, Trail()) == [(None, None)]
    closed = deps([5], now=HOUR + timedelta(hours=1, minutes=30))
    closed.metering.next = HOUR  # type: ignore[attr-defined]
    [(mismatch, detail)] = run(closed, Trail())
    assert mismatch == "not yet sent"
    assert "5 units accepted" in (detail or "")


def test_usage_stored_after_its_hour_was_sealed_is_named() -> None:
    # the hour is sealed without a record for this customer and dimension: the usage was never billed
    [(mismatch, detail)] = run(deps([5]), Trail())
    assert mismatch == "quantity differs"
    assert "stored after its hour was sealed" in (detail or "")


def test_a_leaving_buyers_carry_placed_in_an_earlier_hour_or_parked_is_shown_as_carried() -> None:
    # Given a leaving buyer's final hour (11:00) over the maximum by 9: their final usage placed 5 in 10:00 (a record of
    # 0 events) and parked 4, no hour of theirs being left, in a record of 12:00
    most = int(MAX_INTEGER_QUANTITY)
    earlier, later = HOUR - timedelta(hours=1), HOUR + timedelta(hours=1)
    ops = deps(
        [most, 9],
        MeteringEntry(record(most), "sent", "m-11"),
        MeteringEntry(replace(record(5), hour=earlier, events=0), "sent", "m-10"),
        # parked under a key of its own, as placed_records parks it
        MeteringEntry(
            replace(record(4), key=record(4).key + PARKED_CARRY, hour=later, events=0), "failed", None, "CarriedPastEnd"
        ),
        now=later + timedelta(hours=1, minutes=30),
    )
    ledger = ops.metering
    assert isinstance(ledger, Ledger)
    ledger.next = later + timedelta(hours=1)
    ledger.carries[later] = [(replace(record(9), hour=later, events=0), [(earlier, Decimal(5)), (None, Decimal(4))])]
    trail = Trail(
        replace(trail_result(most, record_id="m-11")), replace(trail_result(5, record_id="m-10"), hour=earlier)
    )
    # When the operator reconciles the three hours
    result = reconcile(ops, trail, select(ops, since=earlier, until=later))
    # Then the hours that billed the carry agree, the parked one is a mismatch for what it is, and each says where
    # the units went (a failing test before: "quantity differs" in all three hours)
    assert [(r.hour, r.events, r.mismatch) for r in result.rows] == [
        (earlier, 0, None),
        (HOUR, 2, None),
        (later, 0, "failed"),
    ]
    placed = "carried 5 units from hour 2026-11-26T11:00Z into hour 2026-11-26T10:00Z"
    parked = "carried 4 units from hour 2026-11-26T11:00Z past the buyer's end: no hour of theirs left"
    texts = [[c.text for c in r.carried] for r in result.rows]
    assert texts[0] == [placed]
    assert texts[1][0] == placed
    assert texts[1][1].startswith(parked)
    assert texts[2][0].startswith(parked)
    assert "CarriedPastEnd" in (result.rows[2].detail or "")


def test_a_carry_that_does_not_add_up_is_still_a_mismatch_naming_it() -> None:
    # Given 3 units carried into the hour, whose record holds 7 of its own 7 accepted: 3 are missing
    ops = deps([7], MeteringEntry(record(7), "sent", "m-1"))
    ledger = ops.metering
    assert isinstance(ledger, Ledger)
    ledger.carries[HOUR] = [(record(3), None)]
    [(mismatch, detail)] = run(ops, Trail(trail_result(7)))
    assert mismatch == "quantity differs"
    assert detail == "accepted 7 units, 3 carried in, 0 carried on, sealed 7"


def test_cloudtrail_is_not_read_for_hours_past_its_90_days() -> None:
    trail = Trail()
    ops = deps([7], MeteringEntry(record(7), "sent", "m-1"), now=HOUR + timedelta(days=91))
    result = reconcile(ops, trail, select(ops, since=HOUR, until=HOUR))
    assert (result.cloudtrail_checked, trail.asked, result.mismatches) == (False, [], [])


# --- CloudTrail's record ------------------------------------------------------------------------------------------

# The seller guide's BatchMeterUsage entry (docs.aws.amazon.com/marketplace/latest/userguide/cloudtrail-logging.html)
DOCUMENTED = {
    "eventVersion": "1.05",
    "eventTime": "2018-04-19T16:32:51Z",
    "eventSource": "metering-marketplace.amazonaws.com",
    "eventName": "BatchMeterUsage",
    "requestParameters": {
        "usageRecords": [
            {
                "dimension": "Dimension1",
                "timestamp": "Apr 19, 2018 4:32:50 PM",
                "customerIdentifier": "customer1",
                "quantity": 1,
            }
        ],
        "productCode": "EXAMPLE_proCode",
    },
    "responseElements": {
        "results": [
            {
                "usageRecord": {
                    "dimension": "Dimension1",
                    "timestamp": "Apr 19, 2018 4:32:50 PM",
                    "customerIdentifier": "customer1",
                    "customerAWSAccountID": "987654321098",
                    "quantity": 1,
                },
                "meteringRecordId": "bEXAMPLE-98f0-4e90-8bd2-bf0EXAMPLE1e",
                "status": "Success",
            }
        ],
        "unprocessedRecords": [],
    },
    "readOnly": False,
    "eventType": "AwsApiCall",
}


def test_the_documented_entry_is_read() -> None:
    at = datetime(2018, 4, 19, 16, 32, 51, tzinfo=UTC)
    [result] = results_of(DOCUMENTED, at)
    assert result == TrailResult(
        customer="customer1",
        customer_aws_account_id="987654321098",
        dimension="Dimension1",
        hour=datetime(2018, 4, 19, 16, 0, tzinfo=UTC),
        quantity=Decimal(1),
        status="Success",
        metering_record_id="bEXAMPLE-98f0-4e90-8bd2-bf0EXAMPLE1e",
        event_time=at,
        product_code="EXAMPLE_proCode",
    )


def test_a_refused_call_and_other_operations_billed_nothing() -> None:
    at = datetime(2018, 4, 19, 16, 32, 51, tzinfo=UTC)
    assert results_of({**DOCUMENTED, "errorCode": "ThrottlingException", "responseElements": None}, at) == []
    assert results_of({**DOCUMENTED, "eventName": "MeterUsage"}, at) == []


def test_a_licence_record_with_a_decimal_quantity_is_read() -> None:
    usage = {
        "dimension": "storage_gb",
        "timestamp": "Nov 26, 2026 12:05:09 AM",
        "licenseArn": LICENCE,
        "customerAWSAccountId": ACCOUNT,
        "quantityAsDecimal": "2.25",
    }
    event = {
        "eventName": "BatchMeterUsage",
        "responseElements": {"results": [{"usageRecord": usage, "status": "Success"}]},
    }
    [result] = results_of(event, NOW)
    assert isinstance(result, TrailResult)
    assert (result.customer, result.customer_aws_account_id, result.quantity, result.hour) == (
        LICENCE,
        ACCOUNT,
        Decimal("2.25"),
        datetime(2026, 11, 26, 0, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda e: e.update(responseElements=None), "a BatchMeterUsage call answered without a list of results"),
        (lambda e: e["responseElements"].update(results="none"), "without a list of results"),
        (lambda e: e["responseElements"]["results"][0].pop("usageRecord"), "a result without its usageRecord"),
        (lambda e: _usage_of(e).update(timestamp="yesterday"), "a usageRecord without a readable timestamp"),
        (lambda e: _usage_of(e).update(timestamp=1e300), "a usageRecord without a readable timestamp"),
        (lambda e: _usage_of(e).pop("customerIdentifier"), "without a readable licenseArn or customerIdentifier"),
        (lambda e: _usage_of(e).pop("dimension"), "a usageRecord without a readable dimension"),
        (lambda e: _usage_of(e).update(quantity="lots"), "a usageRecord whose quantity is not a number"),
        (lambda e: _usage_of(e).update(quantity="NaN"), "a usageRecord whose quantity is not a number"),
    ],
)
def test_a_logged_result_that_cannot_be_read_is_reported_never_skipped(change: Any, why: str) -> None:
    # Given the documented entry, changed where a reader could not make sense of it
    event = copy.deepcopy(DOCUMENTED)
    change(event)
    # Then it is reported as unreadable, named by its event, and the reason says what was missing, never the values
    [found] = results_of(event, datetime(2018, 4, 19, 16, 32, 51, tzinfo=UTC), "e-1")
    assert isinstance(found, Unreadable)
    assert found.event_id == "e-1"
    assert why in found.why


def _usage_of(event: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = event["responseElements"]["results"][0]["usageRecord"]
    return record


# --- the flush's hourly check of one settled hour (functions.flush.audit) ----------------------------------------


def test_the_settled_hour_is_the_one_that_closed_two_hours_ago() -> None:
    assert settled_hour(datetime(2026, 11, 26, 14, 5, tzinfo=UTC)) == datetime(2026, 11, 26, 11, 0, tzinfo=UTC)


def test_the_hourly_audit_counts_each_disagreement_of_its_hour_only() -> None:
    entries = [
        MeteringEntry(record(7), "sent", "m-1"),
        MeteringEntry(replace(record(3), key="k2", dimension="storage_gb"), "failed", None, "TimestampOutOfBounds"),
    ]
    other_customer = replace(trail_result(5, record_id="m-9"), customer="arn:aws:license-manager::1:license:l-zzz")
    earlier_hour = replace(trail_result(7), hour=HOUR - timedelta(hours=1))
    trail = Trail(trail_result(7), other_customer, earlier_hour)
    findings = audit_hour(AuditDeps(lambda hour: [e for e in entries if e.record.hour == hour], trail), HOUR)
    assert [(f.customer, f.dimension, f.kind) for f in findings] == [
        (LICENCE, "storage_gb", "failed"),
        ("arn:aws:license-manager::1:license:l-zzz", "api_calls", "in CloudTrail but not in our ledger"),
    ]
    assert trail.asked == [HOUR]
    # all agreeing: nothing to report
    assert audit_hour(AuditDeps(lambda hour: entries[:1], Trail(trail_result(7))), HOUR) == []


def test_the_hourly_audit_leaves_out_what_the_seller_bills_outside_this_stack() -> None:
    # Given CloudTrail showing, beside our record, a result for a licence of another product this stack does not
    # meter (the seller's other integration, same account and Region)
    other = replace(trail_result(5, record_id="m-9"), customer="arn:aws:license-manager::1:license:l-zzz")
    entries = [MeteringEntry(record(7), "sent", "m-1")]
    ours = AuditDeps(lambda hour: entries, Trail(trail_result(7), other), ours=lambda r: r.customer == LICENCE)
    # Then it is not ours to reconcile: nothing to report, and the alarm stays quiet
    assert audit_hour(ours, HOUR) == []


def test_a_parked_carry_is_not_due_in_the_record_of_a_buyer_back_on_the_licence() -> None:
    # Given a leaving buyer's final hour (11:00) over the maximum by 1,000, all parked in 12:00 (no hour of theirs
    # left), and the buyer back on their licence, billed 357 units in 12:00 by a record that was not ours
    most = int(MAX_INTEGER_QUANTITY)
    later = HOUR + timedelta(hours=1)
    parked = replace(record(1000), key=record(1000).key + PARKED_CARRY, hour=later, events=0)
    ops = deps(
        [most, 1000],
        MeteringEntry(record(most), "sent", "m-11"),
        MeteringEntry(parked, "failed", None, "CarriedPastEnd"),
        now=later + timedelta(hours=1, minutes=30),
    )
    ledger = ops.metering
    assert isinstance(ledger, Ledger)
    ledger.next = later + timedelta(hours=1)
    ledger.carries[later] = [(replace(record(1000), hour=later, events=0), [(None, Decimal(1000))])]
    trail = Trail(trail_result(most, record_id="m-11"), replace(trail_result(357, record_id="m-12"), hour=later))
    # When the operator reconciles and looks for over-billing
    result = reconcile(ops, trail, select(ops, since=HOUR, until=later))
    # Then the parked units are the parked record's, and the 357 units billed in 12:00 are over-billed, all of them
    # (seed 1545: counted as due in the licence's own record, they hid it)
    rows = {(r.hour, r.customer, r.dimension, r.sealed): r for r in result.rows}
    own = [r for r in result.rows if r.hour == later and r.cloudtrail == 357]
    assert len(own) == 1
    assert own[0].carried_in == 0
    assert [r.carried_in for r in rows.values() if r.sealed == 1000] == [1000]
    [over] = [h for h in over_billed(result, ops.customers.list_all()) if h.hour == later]
    assert over.billed - over.due == 357
