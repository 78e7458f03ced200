"""In another metering Region the customers table is a replica: a buyer registered a second ago in the main Region is
read again before their usage is refused as unknown (issue 24, item 5)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.replicas import REPLICATION_WAIT_SECONDS, ReadAgainWhenUnknown
from functions.settings import Dimension, Product, Settings
from functions.usage.ingest import record_usage
from tests.fakes import InMemoryCustomers, InMemoryUsage

NOW = datetime(2026, 11, 26, 10, 30, tzinfo=UTC)
PRODUCT = Product(code="p", name="P", dimensions=(Dimension("calls"),))
LICENCE = "arn:aws:license-manager::294406891311:license:l-0a1b2c"
REF = CustomerRef("p", license_arn=LICENCE)


class Replica(InMemoryCustomers):
    """A replica the main Region's write reaches after its first read."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get_many(self, refs: Collection[CustomerRef]) -> dict[CustomerRef, Customer | None]:
        self.reads += 1
        if self.reads == 2:  # replicated meanwhile
            self.put(Customer(REF, "210987654321", SubscriptionState.ACTIVE, NOW))
        return super().get_many(refs)


def _event() -> dict[str, object]:
    return {
        "event_id": "e1",
        "product_code": "p",
        "license_arn": LICENCE,
        "customer_aws_account_id": "210987654321",
        "dimension": "calls",
        "quantity": 3,
        "timestamp": NOW.isoformat(),
    }


def test_a_buyer_not_replicated_yet_is_read_again_before_being_refused() -> None:
    replica, pauses = Replica(), list[float]()
    customers = ReadAgainWhenUnknown(replica, pause=pauses.append)
    store = InMemoryUsage()
    settings = Settings(products=(PRODUCT,))
    result = record_usage([_event()], settings=settings, customers=customers, store=store, clock=ManualClock(NOW))
    assert result.accepted == ("e1",)
    assert pauses == [REPLICATION_WAIT_SECONDS]
    assert replica.reads == 2


def test_a_known_buyer_is_not_waited_for() -> None:
    store = InMemoryCustomers()
    store.put(Customer(REF, "210987654321", SubscriptionState.ACTIVE, NOW))
    pauses: list[float] = []
    assert ReadAgainWhenUnknown(store, pause=pauses.append).get(REF) is not None
    assert pauses == []
