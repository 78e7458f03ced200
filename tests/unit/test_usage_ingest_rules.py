"""Ingest's rules on in-memory fakes: every event checked before any is stored, each bad field named, nothing of a
refused batch stored, an id counted once, a leaving buyer's usage taken until their cutoff only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from functions.clock import ManualClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.settings import Dimension, Product, Settings
from functions.usage.ingest import UsageRejected, record_usage
from tests.fakes import InMemoryCustomers, InMemoryUsage

NOW = datetime(2026, 11, 26, 10, 30, tzinfo=UTC)
PRODUCT = Product(code="p", name="P", dimensions=(Dimension("calls"), Dimension("gb", quantity_type="decimal")))
SETTINGS = Settings(products=(PRODUCT,))
LICENCE = "arn:aws:license-manager::294406891311:license:l-0001"
ACCOUNT = "111122223333"


def customers(
    state: SubscriptionState = SubscriptionState.ACTIVE, since: datetime = NOW - timedelta(days=1)
) -> InMemoryCustomers:
    fake = InMemoryCustomers()
    fake.put(Customer(CustomerRef("p", license_arn=LICENCE), ACCOUNT, state, since))
    return fake


def event(n: int = 0, **changes: Any) -> dict[str, Any]:
    return {
        "event_id": f"e{n}",
        "product_code": "p",
        "license_arn": LICENCE,
        "customer_aws_account_id": ACCOUNT,
        "dimension": "calls",
        "quantity": 3,
        "timestamp": (NOW - timedelta(minutes=5)).isoformat(),
        **changes,
    }


def record(events: list[dict[str, Any]], fake: InMemoryCustomers | None = None) -> tuple[Any, InMemoryUsage]:
    store = InMemoryUsage()
    result = record_usage(events, settings=SETTINGS, customers=fake or customers(), store=store, clock=ManualClock(NOW))
    return result, store


def refused(events: list[dict[str, Any]], fake: InMemoryCustomers | None = None) -> list[tuple[str, str]]:
    store = InMemoryUsage()
    with pytest.raises(UsageRejected) as error:
        record_usage(events, settings=SETTINGS, customers=fake or customers(), store=store, clock=ManualClock(NOW))
    assert store.events == {}  # all or nothing
    return [(e.field, e.message) for e in error.value.errors]


def test_a_good_batch_is_stored_and_an_id_repeated_in_it_counts_once() -> None:
    result, store = record([event(0), event(1, quantity=4), event(0)])
    assert (result.accepted, result.duplicates) == (("e0", "e1"), ("e0",))
    assert sum(e.quantity for e in store.events.values()) == Decimal(7)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"product_code": "nope"}, "events[1].product_code"),
        ({"dimension": "nope"}, "events[1].dimension"),
        ({"quantity": "2.5"}, "events[1].quantity"),  # a whole-unit dimension
        ({"quantity": -1}, "events[1].quantity"),
        ({"timestamp": (NOW + timedelta(hours=1)).isoformat()}, "events[1].timestamp"),
        ({"timestamp": (NOW - timedelta(hours=25)).isoformat()}, "events[1].timestamp"),
        ({"timestamp": "1764150000"}, "events[1].timestamp"),
        ({"license_arn": "arn:aws:license-manager::294406891311:license:l-9"}, "events[1].license_arn"),
        ({"customer_aws_account_id": "999999999999"}, "events[1].customer_aws_account_id"),
        ({"allocations": [{"tags": {"t": "a"}, "quantity": 1}]}, "events[1].allocations"),  # adds up to 1, not 3
    ],
)
def test_one_bad_event_refuses_the_batch_naming_its_field(change: dict[str, Any], field: str) -> None:
    assert field in [f for f, _ in refused([event(0), event(1, **change)])]


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (SubscriptionState.PENDING, "not confirmed yet"),
        (SubscriptionState.FAILED, "subscription failed"),
        (SubscriptionState.ENDED, "subscription ended"),
    ],
)
def test_a_customer_who_may_not_be_metered_is_refused_with_the_reason(state: SubscriptionState, reason: str) -> None:
    ((field, message),) = refused([event()], customers(state))
    assert field == "events[0].license_arn"
    assert reason in message


def test_a_leaving_buyers_usage_is_taken_until_their_cutoff_and_refused_after() -> None:
    # the cutoff is 45 minutes into the final hour: taken 30 minutes in, refused 50 minutes in
    leaving = customers(SubscriptionState.ENDING, since=NOW - timedelta(minutes=30))
    assert record([event()], leaving)[0].accepted == ("e0",)
    ((field, message),) = refused([event()], customers(SubscriptionState.ENDING, since=NOW - timedelta(minutes=50)))
    assert (field, "final usage was taken until" in message) == ("events[0].license_arn", True)


def test_a_refused_batch_names_every_event_an_earlier_request_stored_as_it_is() -> None:
    """Simulator seed 176525: a resend whose other event is refused said only "refused" of an event stored an hour
    before, so its producer took it for unstored though it was billed. The valid ones are named too."""
    store, fake = InMemoryUsage(), customers()

    def send(events: list[dict[str, Any]]) -> None:
        record_usage(events, settings=SETTINGS, customers=fake, store=store, clock=ManualClock(NOW))

    send([event(0), event(1, quantity=4)])
    before = dict(store.events)
    bad = event(2, dimension="nope")
    with pytest.raises(UsageRejected) as error:  # refused for e2, whatever e0 and e1 are
        send([event(0), event(1, quantity=4), bad])
    assert error.value.duplicates == ("e0", "e1")
    assert [e.field for e in error.value.errors] == ["events[2].dimension"]
    with pytest.raises(UsageRejected) as changed:  # e1 sent with another quantity is not stored as it is
        send([event(0), event(1, quantity=5), bad])
    assert changed.value.duplicates == ("e0",)
    with pytest.raises(UsageRejected) as repeated:  # refused for a repeat within the batch: e0 is still stored
        send([event(0), event(3), event(3, quantity=9)])
    assert (repeated.value.kind, repeated.value.duplicates) == ("conflict", ("e0",))
    assert store.events == before  # nothing more stored, and 7 units as first sent
    assert sum(e.quantity for e in store.events.values()) == Decimal(7)
