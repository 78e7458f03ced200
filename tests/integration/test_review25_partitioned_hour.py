"""Review 25: an hour of more buyers than one BatchMeterUsage call takes, its calls dealt over the metering ledger's
partitions, through the flush as deployed: a leaving buyer's final usage storing and sending their records while the
flush seals the hour (after it read the hour, so each stores a copy, in different partitions), and a flush killed
after its first call. Real parts only: DynamoDB Local and the Marketplace emulator over HTTP; every unit billed once."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from functions.flush.customer import send_customer_usage
from functions.flush.ledger import DynamoMeteringLedger
from functions.flush.records import BatchOutcome, MeteringRecord
from functions.flush.sender import Backoff
from functions.flush.service import FlushDeps, flush
from functions.marketplace.metering import Boto3MeteringGateway
from functions.settings import Dimension, Product, Settings
from functions.usage.ingest import record_usage
from functions.usage.store import DynamoUsageStore
from local.marketplace.testing import EmulatorHandle
from local.tables import FIXED_DATE_RETENTION
from tests.integration.buyers import active_buyers

START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
SEALED_AT = START + timedelta(hours=1, minutes=6)
PRODUCT = Product(
    code="partitioned-product",
    name="Partitioned",
    dimensions=(Dimension(name="api_calls"), Dimension(name="storage_gb", quantity_type="decimal")),
)
BUYERS = 40  # 80 records in 09:00: four calls, so four of the hour's partitions
FAST = Backoff(base=0.001, cap=0.01, attempts=30)


@dataclass
class Hour:
    settings: Settings
    clock: ManualClock
    marketplace: EmulatorHandle
    dynamodb: Any
    buyers: list[dict[str, Any]]
    expected: dict[tuple[str, str], Decimal]  # billed per (licence, dimension) for 09:00

    def ledger(self) -> DynamoMeteringLedger:
        return DynamoMeteringLedger(self.dynamodb, self.settings.metering_table, retention=FIXED_DATE_RETENTION)

    def deps(self, ledger: Any = None, gateway: Any = None) -> FlushDeps:
        return FlushDeps(
            settings=self.settings,
            usage=self.store(),
            ledger=ledger or self.ledger(),
            customers=DynamoCustomerRepository(self.dynamodb, self.settings.customers_table),
            gateway=gateway or Boto3MeteringGateway(self.marketplace.metering(max_attempts=1)),
            clock=self.clock,
            backoff=FAST,
        )

    def store(self) -> DynamoUsageStore:
        return DynamoUsageStore(
            self.dynamodb, self.settings.usage_table, shards=self.settings.usage_shards, retention=FIXED_DATE_RETENTION
        )

    def move_to(self, moment: datetime) -> None:
        self.clock.set(moment)
        self.marketplace.admin.set_clock(moment.isoformat().replace("+00:00", "Z"))

    def billed(self) -> dict[tuple[str, str], Decimal]:
        billed: dict[tuple[str, str], Decimal] = {}
        for entry in self.marketplace.admin.ledger(product_code=PRODUCT.code):
            key = (entry["license_arn"], entry["dimension"])
            assert entry["hour"].startswith("2026-11-26T09"), entry
            assert key not in billed, f"billed twice: {key}"
            billed[key] = Decimal(entry["quantity"])
        return billed

    def partitions(self) -> Counter[str]:
        """Items of 09:00 per partition key."""
        partitions: Counter[str] = Counter()
        for shard in range(8):
            pk = "REC#2026-11-26T09" + (f"#{shard}" if shard else "")
            items = self.dynamodb.query(
                TableName=self.settings.metering_table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": pk}},
                ConsistentRead=True,
            )["Items"]
            partitions[pk] += len(items)
        return +partitions

    def leaving(self, buyer: dict[str, Any], cutoff: datetime) -> Customer:
        repository = DynamoCustomerRepository(self.dynamodb, self.settings.customers_table)
        current = repository.get(CustomerRef(PRODUCT.code, license_arn=buyer["license_arn"]))
        assert current is not None
        ending = replace(current, state=SubscriptionState.ENDING, state_changed_at=cutoff, final_usage_cutoff=cutoff)
        repository.put(ending)
        return ending


@pytest.fixture
def hour(settings: Settings, marketplace: EmulatorHandle, dynamodb: Any) -> Hour:
    """40 buyers, each with usage of both dimensions in 09:00 (accepted at 09:30)."""
    test_settings = replace(settings, products=(PRODUCT,), usage_shards=4, flush_grace_seconds=300)
    marketplace.admin.create_product(PRODUCT.code, ["api_calls", "storage_gb"], customer_mode="license")
    world = Hour(test_settings, ManualClock(START), marketplace, dynamodb, [], {})
    world.move_to(START)
    repository = DynamoCustomerRepository(dynamodb, test_settings.customers_table)
    accounts = [f"{200000000000 + n}" for n in range(BUYERS)]
    world.buyers += active_buyers(marketplace, repository, PRODUCT.code, accounts, START - timedelta(days=1))
    world.move_to(START + timedelta(minutes=30))
    events = []
    for n, sub in enumerate(world.buyers):
        for dimension, quantity in (("api_calls", n + 1), ("storage_gb", f"{n}.25")):
            events.append(
                {
                    "event_id": f"{dimension}-{n}",
                    "product_code": PRODUCT.code,
                    "license_arn": sub["license_arn"],
                    "customer_aws_account_id": sub["account_id"],
                    "dimension": dimension,
                    "quantity": quantity,
                    "timestamp": (START + timedelta(minutes=30)).isoformat(),
                }
            )
            world.expected[(sub["license_arn"], dimension)] = Decimal(str(quantity))
    for start in range(0, len(events), 40):
        result = record_usage(
            events[start : start + 40],
            settings=test_settings,
            customers=repository,
            store=world.store(),
            clock=world.clock,
        )
        assert len(result.accepted) == 40
    return world


class _RacedByFinalUsage(DynamoMeteringLedger):
    """The flush's ledger; once it has read 09:00 to seal it, a leaving buyer's final usage stores and sends their
    records (in REC#<hour>), and Marketplace then ends them: the flush stores and sends its own copies."""

    def __init__(self, world: Hour, buyer: dict[str, Any], ending: Customer) -> None:
        super().__init__(world.dynamodb, world.settings.metering_table, retention=FIXED_DATE_RETENTION)
        self.world, self.buyer, self.ending = world, buyer, ending
        self.raced = False

    def _entries(self, hour: datetime) -> Any:
        read = super()._entries(hour)
        if hour == START and not self.raced:
            self.raced = True
            report = send_customer_usage(self.ending, self.world.deps(), out_of_time=lambda: False)
            assert (report.records, report.sent) == (2, 2)
            self.world.marketplace.admin.finalize(self.buyer["agreement_id"])
        return read


def test_final_usage_racing_the_sealing_of_a_partitioned_hour_bills_each_unit_once(hour: Hour) -> None:
    # Given the 40 buyers' 09:00, and one of them leaving: cutoff at 10:02, their final usage due at 10:06
    buyer = hour.buyers[17]
    ending = hour.leaving(buyer, START + timedelta(hours=1, minutes=2))
    hour.move_to(SEALED_AT)
    # When the flush seals 09:00 (four calls) and, once it has read the hour, the final usage stores and sends the
    # buyer's two records and Marketplace ends the buyer: the flush stores and sends its own copies too
    ledger = _RacedByFinalUsage(hour, buyer, ending)
    first = flush(hour.deps(ledger=ledger), remaining_ms=lambda: 900_000)
    assert ledger.raced
    # Then Marketplace bills every unit once: the buyer's records once (the flush's copies came back
    # CustomerNotSubscribed), everyone else's once
    assert first.not_subscribed == 2
    assert hour.billed() == hour.expected
    # and the hour's 5 items lie in 4 partitions (the final usage's in REC#<hour>, beside the flush's first call)
    assert hour.partitions() == Counter(
        {"REC#2026-11-26T09": 2, "REC#2026-11-26T09#1": 1, "REC#2026-11-26T09#2": 1, "REC#2026-11-26T09#3": 1}
    )
    # and every record has Marketplace's answer: nothing is unsent, the next flush sends nothing
    entries = hour.ledger().entries_of_hour(START)
    assert len(entries) == 2 * BUYERS
    assert [e for e in entries if e.status == "pending"] == []
    assert Counter(e.status for e in entries if e.record.license_arn != buyer["license_arn"]) == {"sent": 78}
    hour.move_to(SEALED_AT + timedelta(hours=1))
    second = flush(hour.deps(), remaining_ms=lambda: 900_000)
    assert (second.records_sent, second.left_pending) == (0, 0)
    assert hour.billed() == hour.expected


class _KilledAfterFirstCall:
    """Our gateway; the process dies right after its first call committed, before its outcomes were stored."""

    def __init__(self, inner: Boto3MeteringGateway) -> None:
        self.inner = inner
        self.calls = 0
        self.lock = threading.Lock()

    def batch_meter_usage(self, records: list[MeteringRecord]) -> BatchOutcome:
        with self.lock:
            if self.calls == 0:  # the first call goes out and commits; the process is dead before any other does
                self.inner.batch_meter_usage(records)
                self.calls += 1
        raise SystemExit("flush process killed")


def test_a_flush_killed_after_its_first_call_of_a_partitioned_hour_is_finished_by_the_next_once(hour: Hour) -> None:
    # Given 09:00 sealed by a flush that died after Marketplace took its first call (25 records, answers lost)
    hour.move_to(SEALED_AT)
    killed = _KilledAfterFirstCall(Boto3MeteringGateway(hour.marketplace.metering(max_attempts=1)))
    with pytest.raises(SystemExit):
        flush(replace(hour.deps(gateway=killed), workers=1), remaining_ms=lambda: 900_000)
    assert killed.calls == 1
    assert len(hour.billed()) == 25
    # When the next flush runs (another process: it knows nothing of where the first stored the records)
    hour.move_to(SEALED_AT + timedelta(minutes=10))
    report = flush(hour.deps(), remaining_ms=lambda: 900_000)
    # Then it sends the 80 records (the 25 again: identical, answered with their first MeteringRecordIds), every unit
    # is billed once, and every answer is stored in its call's item, in each of the hour's four partitions
    assert (report.records_sent, report.duplicates, report.left_pending) == (80, 0, 0)
    assert hour.billed() == hour.expected
    assert sorted(hour.partitions().values()) == [1, 1, 1, 1]
    entries = hour.ledger().entries_of_hour(START)
    assert Counter(e.status for e in entries) == {"sent": 2 * BUYERS}
    billed_ids = {e["metering_record_id"] for e in hour.marketplace.admin.ledger(product_code=PRODUCT.code)}
    assert {e.metering_record_id for e in entries} == billed_ids
