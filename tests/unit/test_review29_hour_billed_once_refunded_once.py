"""Review 29 (attack on 0de2699): Marketplace bills a customer's dimension in an hour once (its dedup key is the
customer, dimension and hour; the same key again is the same MeteringRecordId or a DuplicateRecord), but
``once_each`` folds only Success results sharing a MeteringRecordId. Two Success results of one (customer,
dimension, hour) under different ids, or a Success logged without its id twice (a retry's call, CloudTrail's entry
missing ``meteringRecordId``), are each a row of their own in ``cli reconcile`` when no record of ours accounts for
the hour, and ``cli adjust`` refunds the hour's units once per row: more than Marketplace can have billed.

With a record of ours in the hour the reconciliation shows one CloudTrail figure (the first), so the refund is
bounded there; it is the hours only CloudTrail knows (an outsider billing a buyer who used nothing) that double.
In-memory fakes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.flush.audit import TrailResult, UnreadableSink
from functions.settings import Dimension, Product, Settings
from operations.adjust import over_billed, proposals, refund_key
from operations.queries import OperationsDeps, select
from operations.reconcile import reconcile
from tests.fakes import InMemoryCustomers, InMemoryUsage
from tests.unit.test_adjust import Book
from tests.unit.test_reconcile import Ledger

HOUR = datetime(2026, 11, 26, 11, tzinfo=UTC)
NOW = HOUR + timedelta(days=2)  # what was due in the hour is final
PRODUCT = Product(code="priced", name="Priced", dimensions=(Dimension(name="api_calls", price="0.01"),))
LICENCE = "arn:aws:license-manager::1:license:l-a"
ACCOUNT = "111100000001"


class Trail:
    def __init__(self, *results: TrailResult) -> None:
        self.results = list(results)

    def __call__(self, report: UnreadableSink) -> Trail:
        return self

    def metering_results(self, start: datetime, end: datetime | None = None) -> Iterator[TrailResult]:
        return iter(self.results)


def _deps() -> OperationsDeps:
    customers = InMemoryCustomers()
    customers.put(
        Customer(
            ref=CustomerRef(PRODUCT.code, license_arn=LICENCE),
            customer_aws_account_id=ACCOUNT,
            state=SubscriptionState.ACTIVE,
            state_changed_at=HOUR - timedelta(days=1),
            agreement_id="agmt-1",
        )
    )
    ledger = Ledger()  # nothing of ours in the hour: the buyer used nothing
    ledger.next = HOUR + timedelta(days=1)
    return OperationsDeps(Settings(products=(PRODUCT,)), customers, InMemoryUsage(), ledger, ManualClock(NOW))


def _billed(record_id: str | None, minute: int) -> TrailResult:
    # 1,000 api_calls nobody used, logged by a call at 11:<minute>
    return TrailResult(
        LICENCE, ACCOUNT, "api_calls", HOUR, Decimal(1000), "Success", record_id, HOUR + timedelta(minutes=minute)
    )


@pytest.mark.parametrize(
    "trail",
    [
        pytest.param((_billed("m-1", 5), _billed("m-2", 30)), id="two-ids-one-hour"),
        pytest.param((_billed(None, 5), _billed(None, 6)), id="retry-logged-without-its-id"),
    ],
)
def test_an_hour_marketplace_bills_once_is_refunded_at_most_once(trail: tuple[TrailResult, ...]) -> None:
    ops = _deps()
    reconciliation = reconcile(ops, Trail(*trail), select(ops, since=HOUR, until=HOUR))
    hours = over_billed(reconciliation, ops.customers.list_all())
    assert len({refund_key(h) for h in hours}) == 1  # one customer, dimension and hour
    book = Book()
    found = [p for p in proposals(ops, hours, book) if p.problem is None]
    refunded = sum((p.amount or Decimal(0) for p in found), Decimal(0))
    units = sum((h.excess for p in found for h in p.hours), Decimal(0))
    # Marketplace billed the hour at most once: 1,000 units, 10.00 at 0.01
    assert units <= 1000, f"{units} units refunded for one hour billed once"
    assert refunded <= Decimal("10.00"), f"{refunded} refunded for 10.00 billed"
