"""Usage ingest against DynamoDB Local: bad input names the field and stores nothing; an event id counts once."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.clock import ManualClock
from functions.customers.lifecycle_store import DynamoLifecycleStore
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from functions.customers.subjects import licence_id, licence_subject
from functions.customers.subscription import LifecycleKind
from functions.settings import Dimension, Product, Settings
from functions.storage.errors import StorageError
from functions.usage.ingest import UsageRejected, parse_batch, record_usage, validate
from functions.usage.model import WRITE_START_DEADLINE
from functions.usage.store import DynamoUsageStore
from local.tables import FIXED_DATE_RETENTION
from tests.usage_table import event_id, event_items

NOW = datetime(2026, 11, 26, 10, 30, tzinfo=UTC)
PRODUCT = Product(
    code="prod-a", name="A", dimensions=(Dimension(name="api_calls"), Dimension(name="gb", quantity_type="decimal"))
)
LICENSE = "arn:aws:license-manager::123456789012:license:l-1"
ENDED_LICENSE = "arn:aws:license-manager::123456789012:license:l-2"


@pytest.fixture
def ingest(settings: Settings, dynamodb: Any) -> Any:
    test_settings = replace(settings, products=(PRODUCT,))
    customers = DynamoCustomerRepository(dynamodb, test_settings.customers_table)
    for license_arn, state in ((LICENSE, SubscriptionState.ACTIVE), (ENDED_LICENSE, SubscriptionState.ENDED)):
        customers.put(Customer(CustomerRef(PRODUCT.code, license_arn=license_arn), "210987654321", state, NOW))
    store = DynamoUsageStore(dynamodb, test_settings.usage_table, shards=4, retention=FIXED_DATE_RETENTION)

    clock = ManualClock(NOW)

    def call(events: list[dict[str, Any]]) -> Any:
        return record_usage(events, settings=test_settings, customers=customers, store=store, clock=clock)

    call.clock = clock  # type: ignore[attr-defined]
    call.stored = lambda: dynamodb.scan(TableName=test_settings.usage_table)["Items"]  # type: ignore[attr-defined]
    call.events = lambda: event_items(dynamodb, test_settings.usage_table)  # type: ignore[attr-defined]
    return call


def _event(**changes: Any) -> dict[str, Any]:
    event = {
        "event_id": "e1",
        "product_code": PRODUCT.code,
        "license_arn": LICENSE,
        "customer_aws_account_id": "210987654321",
        "dimension": "api_calls",
        "quantity": 3,
        "timestamp": NOW.isoformat(),
    }
    event.update(changes)
    return {k: v for k, v in event.items() if v is not None}


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"product_code": "nope"}, "events[1].product_code"),
        ({"dimension": "nope"}, "events[1].dimension"),
        ({"quantity": -1}, "events[1].quantity"),
        ({"quantity": "1.5"}, "events[1].quantity"),
        ({"quantity": "abc"}, "events[1].quantity"),
        ({"license_arn": "arn:unknown"}, "events[1].license_arn"),
        ({"license_arn": ENDED_LICENSE}, "events[1].license_arn"),
        ({"customer_aws_account_id": "999999999999"}, "events[1].customer_aws_account_id"),
        ({"timestamp": (NOW + timedelta(hours=1)).isoformat()}, "events[1].timestamp"),
        ({"timestamp": (NOW - timedelta(hours=25)).isoformat()}, "events[1].timestamp"),
        ({"allocations": [{"tags": {"team": "a"}, "quantity": 1}]}, "events[1].allocations"),
        ({"allocations": [{"tags": {"team": "caf\u00e9"}, "quantity": 3}]}, "events[1].allocations[0].tags.team"),
        ({"color": "red"}, "events[1].color"),
    ],
)
def test_a_bad_event_names_its_field_and_nothing_is_stored(ingest: Any, bad: dict[str, Any], field: str) -> None:
    # Given a batch with one good and one bad event
    # When it is recorded
    with pytest.raises(UsageRejected) as rejected:
        ingest([_event(event_id="good"), _event(event_id="bad", **bad)])
    # Then the error names the bad field, and not even the good event was stored
    assert field in [e.field for e in rejected.value.errors], rejected.value.errors
    assert ingest.stored() == []


def test_too_many_events_are_refused(ingest: Any) -> None:
    with pytest.raises(UsageRejected) as rejected:
        ingest([_event(event_id=f"e{n}") for n in range(101)])
    assert [e.field for e in rejected.value.errors] == ["events"]
    assert ingest.stored() == []


def test_the_same_event_id_counts_once_also_when_calls_race(ingest: Any) -> None:
    # Given eight calls carrying the same 20 events, started together
    events = [_event(event_id=f"e{n}", timestamp=NOW.isoformat()) for n in range(20)]
    results: list[Any] = []
    start = threading.Barrier(8)

    def call() -> None:
        start.wait()
        results.append(ingest(events))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then each event was accepted by exactly one call and stored once
    accepted = [e for r in results for e in r.accepted]
    assert sorted(accepted) == sorted(e["event_id"] for e in events)
    assert len(ingest.events()) == 20


def test_a_batch_over_several_requests_stores_each_new_event_once_and_names_those_stored_before(ingest: Any) -> None:
    # Given 30 events stored by an earlier batch (the writes go 25 to a request: these span two)
    earlier = [_event(event_id=f"e{n}") for n in range(0, 90, 3)]
    assert len(ingest(earlier).accepted) == 30
    # When a batch of 100 holding them again among 70 new ones is sent
    result = ingest([_event(event_id=f"e{n}") for n in range(100)])
    # Then each new one is accepted, each earlier one is a duplicate, and every event is stored once
    assert sorted(result.accepted) == sorted(f"e{n}" for n in range(100) if n % 3 or n >= 90)
    assert sorted(result.duplicates) == sorted(e["event_id"] for e in earlier)
    assert sorted(event_id(e) for e in ingest.events()) == sorted(f"e{n}" for n in range(100))


def test_an_event_id_counts_again_once_its_identity_lifetime_is_over(ingest: Any) -> None:
    # Given an event accepted at NOW
    assert ingest([_event(event_id="reused")]).accepted == ("reused",)
    # When the producer uses its id again 34 hours later (past IDENTITY_LIFETIME: Marketplace can no longer bill the
    # first), with another quantity
    later = NOW + timedelta(hours=34)
    ingest.clock.set(later)
    result = ingest([_event(event_id="reused", quantity=5, timestamp=later.isoformat())])
    # Then it is new usage: accepted, stored in its own hour beside the first
    assert result.accepted == ("reused",)
    assert sorted((e["t"]["S"][:13], e["q"]["S"]) for e in ingest.events()) == [
        (NOW.isoformat()[:13], "3"),
        (later.isoformat()[:13], "5"),
    ]
    # and from now on a resend of it with the first quantity is a conflict with the new one
    with pytest.raises(UsageRejected) as refused:
        ingest([_event(event_id="reused", timestamp=later.isoformat())])
    assert [e.field for e in refused.value.errors] == ["events[0].quantity"]


def test_a_write_not_started_within_its_deadline_is_not_made(settings: Settings, dynamodb: Any) -> None:
    # Given events accepted at NOW by an in-process producer whose writes only get going 16 s later (no API timeout
    # bounds such a producer: a write landing after its hour was sealed would never be billed)
    test_settings = replace(settings, products=(PRODUCT,))
    customers = DynamoCustomerRepository(dynamodb, test_settings.customers_table)
    customers.put(
        Customer(CustomerRef(PRODUCT.code, license_arn=LICENSE), "210987654321", SubscriptionState.ACTIVE, NOW)
    )
    clock = ManualClock(NOW)
    store = DynamoUsageStore(dynamodb, test_settings.usage_table, shards=4, retention=FIXED_DATE_RETENTION, clock=clock)
    validated = validate(
        parse_batch({"events": [_event(event_id="slow", timestamp=NOW.isoformat())]}),
        settings=test_settings,
        customers=customers,
        now=NOW,
    )
    clock.advance(WRITE_START_DEADLINE + timedelta(seconds=1))
    # When the store is asked to write them, Then it refuses, retryably, and writes nothing
    with pytest.raises(StorageError) as refused:
        store.add(validated)
    assert (refused.value.code, refused.value.retryable) == ("WriteDeadlineExceeded", True)
    assert dynamodb.scan(TableName=test_settings.usage_table)["Items"] == []
    # and a write started in time is made
    clock.set(NOW + WRITE_START_DEADLINE)
    assert store.add(validated) == [True]


@pytest.mark.parametrize(
    ("ending_since", "stored_cutoff", "refused_field"),
    [
        (timedelta(minutes=44), None, None),  # within the cutoff (45 minutes into the final hour): taken
        (timedelta(minutes=46), None, "license_arn"),  # after it: refused, naming the customer
        (timedelta(minutes=10), timedelta(minutes=-1), "license_arn"),  # Marketplace closed the hour early
        (timedelta(hours=3), timedelta(hours=-2, minutes=-30), "license_arn"),  # an earlier ending's cutoff: stale
    ],
)
def test_a_leaving_buyers_usage_is_taken_until_the_cutoff_only(
    settings: Settings,
    dynamodb: Any,
    ending_since: timedelta,
    stored_cutoff: timedelta | None,
    refused_field: str | None,
) -> None:
    # Given a buyer whose subscription has been ending for a while (EventBridge may never send unsubscribe-success)
    test_settings = replace(settings, products=(PRODUCT,))
    customers = DynamoCustomerRepository(dynamodb, test_settings.customers_table)
    ref = CustomerRef(PRODUCT.code, license_arn=LICENSE)
    cutoff = NOW + stored_cutoff if stored_cutoff is not None else None
    customers.put(
        Customer(ref, "210987654321", SubscriptionState.ENDING, NOW - ending_since, final_usage_cutoff=cutoff)
    )
    store = DynamoUsageStore(dynamodb, test_settings.usage_table, shards=4, retention=FIXED_DATE_RETENTION)

    def send(timestamp: datetime = NOW) -> Any:
        event = _event(timestamp=timestamp.isoformat())
        return record_usage([event], settings=test_settings, customers=customers, store=store, clock=ManualClock(NOW))

    # When usage arrives, Then it is taken until the cutoff and refused, naming the customer, after it
    if refused_field is None:
        assert send().accepted == ("e1",)
        return
    with pytest.raises(UsageRejected) as refused:
        send()
    assert refused.value.errors[0].field == f"events[0].{refused_field}"
    assert "final usage was taken until" in refused.value.errors[0].message
    assert dynamodb.scan(TableName=test_settings.usage_table)["Items"] == []


def _refused_for_a_leaving_buyer(
    settings: Settings, dynamodb: Any, *, ending_since: datetime, at: datetime, stamped: datetime
) -> tuple[UsageRejected, list[Any]]:
    """One event stamped ``stamped`` of a buyer ending since ``ending_since``, arriving ``at`` and refused; what was
    stored after it."""
    test_settings = replace(settings, products=(PRODUCT,))
    customers = DynamoCustomerRepository(dynamodb, test_settings.customers_table)
    ref = CustomerRef(PRODUCT.code, license_arn=LICENSE)
    customers.put(Customer(ref, "210987654321", SubscriptionState.ENDING, ending_since))
    store = DynamoUsageStore(dynamodb, test_settings.usage_table, shards=4, retention=FIXED_DATE_RETENTION)
    event = _event(timestamp=stamped.isoformat())
    with pytest.raises(UsageRejected) as refused:
        record_usage([event], settings=test_settings, customers=customers, store=store, clock=ManualClock(at))
    return refused.value, dynamodb.scan(TableName=test_settings.usage_table)["Items"]


def test_a_leaving_buyers_usage_stamped_after_the_final_hour_is_refused(settings: Settings, dynamodb: Any) -> None:
    # Given a buyer whose final usage is taken until 10:58 (ending since 10:13), with usage stamped ahead of our clock
    # (10:01 of the next hour, within the 5-minute skew)
    # When it arrives, Then it is refused on its timestamp: its hour would be sent after the buyer's final usage
    refused, _ = _refused_for_a_leaving_buyer(
        settings,
        dynamodb,
        ending_since=NOW - timedelta(minutes=17),
        at=NOW.replace(minute=57),
        stamped=NOW.replace(hour=NOW.hour + 1, minute=1),
    )
    assert refused.errors[0].field == "events[0].timestamp"
    assert "after this subscription's final hour" in refused.errors[0].message


def test_a_leaving_buyers_late_usage_refused_in_the_last_minute_says_which_hour_would_bill_it(
    settings: Settings, dynamodb: Any
) -> None:
    # Given a buyer whose final usage is taken until 10:59:30 (ending since 10:14:30), and usage stamped at 08:40, whose
    # hour closed long ago, arriving at 10:59:10: usage of a closed hour is billed in the hour open when its write lands
    # When it arrives, Then it is refused on its timestamp, saying why a timestamp hours before the cutoff is refused:
    # the hour that would bill it, 11:00, is after the final hour; and nothing is stored
    refused, stored = _refused_for_a_leaving_buyer(
        settings,
        dynamodb,
        ending_since=NOW.replace(minute=14, second=30),
        at=NOW.replace(minute=59, second=10),
        stamped=NOW.replace(hour=8, minute=40),
    )
    assert refused.errors[0].field == "events[0].timestamp"
    assert refused.errors[0].message == (
        "is after this subscription's final hour (2026-11-26T10:59:30+00:00): it came after its own hour closed, and "
        "would be billed in 2026-11-26T11:00:00+00:00"
    )
    assert stored == []


# --- an event id counts once per customer, whatever hour a resend's timestamp names (issue 23) ----------------------
# Each of these fails on the code before identities: there an event's identity was its id within its hour.


def test_an_event_without_a_timestamp_is_refused_as_malformed_naming_it(ingest: Any) -> None:
    with pytest.raises(UsageRejected) as refused:
        ingest([_event(event_id="good"), _event(event_id="untimed", timestamp=None)])
    assert refused.value.kind == "malformed"
    assert [e.field for e in refused.value.errors] == ["events[1].timestamp"]
    assert ingest.stored() == []


def test_a_resend_stamped_in_the_next_hour_is_refused_as_a_conflict_and_the_first_counts(ingest: Any) -> None:
    # Given an event accepted at 10:59
    first = _event(event_id="top", timestamp=NOW.replace(minute=59).isoformat())
    ingest.clock.set(NOW.replace(minute=59, second=30))
    assert ingest([first]).accepted == ("top",)
    # When the producer, its answer lost, re-stamps it at the top of the hour and sends it again with a new event
    next_hour = NOW.replace(minute=0) + timedelta(hours=1)
    ingest.clock.set(next_hour + timedelta(seconds=5))
    resent = {**first, "timestamp": next_hour.isoformat()}
    with pytest.raises(UsageRejected) as refused:
        ingest([_event(event_id="new"), resent])
    # Then it is refused as a conflict naming its timestamp; nothing of the batch is stored; the first version counts
    assert refused.value.kind == "conflict"
    assert [e.field for e in refused.value.errors] == ["events[1].timestamp"]
    assert "counts as stored" in refused.value.errors[0].message
    events = ingest.events()
    assert [(event_id(e), e["q"]["S"], e["t"]["S"][11:16]) for e in events] == [("top", "3", "10:59")]


def test_a_resend_with_another_quantity_is_a_conflict_and_an_identical_one_a_duplicate(ingest: Any) -> None:
    assert ingest([_event(event_id="q")]).accepted == ("q",)
    with pytest.raises(UsageRejected) as refused:
        ingest([_event(event_id="q", quantity=4)])
    assert [e.field for e in refused.value.errors] == ["events[0].quantity"]
    assert ingest([_event(event_id="q", timestamp=NOW.replace(minute=30).isoformat())]).duplicates == ("q",)
    assert [e["q"]["S"] for e in ingest.events()] == ["3"]


def test_a_claim_whose_event_never_landed_is_stored_by_the_resend_once_its_first_send_cannot_land(
    settings: Settings, dynamodb: Any
) -> None:
    # Given an event claimed at NOW by a request that died before writing it (its identity kept, the event not)
    test_settings = replace(settings, products=(PRODUCT,))
    customers = DynamoCustomerRepository(dynamodb, test_settings.customers_table)
    ref = CustomerRef(PRODUCT.code, license_arn=LICENSE)
    customers.put(Customer(ref, "210987654321", SubscriptionState.ACTIVE, NOW - timedelta(days=1)))
    clock = ManualClock(NOW)
    store = DynamoUsageStore(dynamodb, test_settings.usage_table, shards=4, retention=FIXED_DATE_RETENTION, clock=clock)
    claimed = validate(
        parse_batch({"events": [_event(event_id="orphan")]}), settings=test_settings, customers=customers, now=NOW
    )
    assert store.claim(claimed, "died") == [None]

    def resend() -> Any:
        return record_usage(
            [_event(event_id="orphan")], settings=test_settings, customers=customers, store=store, clock=clock
        )

    # When it is sent again 30 s later, its first send may still land: answered retryably, after a minute
    clock.advance(timedelta(seconds=30))
    with pytest.raises(StorageError) as busy:
        resend()
    assert (busy.value.code, busy.value.retryable, busy.value.retry_after) == ("FirstSendInFlight", True, 60.0)
    assert event_items(dynamodb, test_settings.usage_table) == []
    # and sent again after the minute, it is stored: once, however often it is sent after
    clock.advance(timedelta(seconds=31))
    assert resend().accepted == ("orphan",)
    assert resend().duplicates == ("orphan",)
    assert [(event_id(e), e["q"]["S"]) for e in event_items(dynamodb, test_settings.usage_table)] == [("orphan", "3")]


def test_usage_stamped_before_the_subscription_started_is_refused_naming_its_timestamp(
    settings: Settings, dynamodb: Any
) -> None:
    # Given a buyer whose licence was activated at 10:20 (AWS's License Updated) and a producer that recorded usage
    # at 10:05, before it (fails on the code before: accepted, and billed to the buyer)
    test_settings = replace(settings, products=(PRODUCT,))
    customers = DynamoCustomerRepository(dynamodb, test_settings.customers_table)
    ref = CustomerRef(PRODUCT.code, license_arn=LICENSE)
    customers.put(Customer(ref, "210987654321", SubscriptionState.PENDING, NOW))
    DynamoLifecycleStore(dynamodb, test_settings.customers_table).record(
        licence_subject(licence_id(LICENSE) or ""), LifecycleKind.ACTIVATED, NOW.replace(minute=20)
    )
    store = DynamoUsageStore(dynamodb, test_settings.usage_table, shards=4, retention=FIXED_DATE_RETENTION)
    clock = ManualClock(NOW.replace(minute=40))

    def send(minute: int) -> Any:
        event = _event(event_id=f"m{minute}", timestamp=NOW.replace(minute=minute).isoformat())
        return record_usage([event], settings=test_settings, customers=customers, store=store, clock=clock)

    with pytest.raises(UsageRejected) as refused:
        send(5)
    assert [e.field for e in refused.value.errors] == ["events[0].timestamp"]
    assert "before this buyer's subscription started" in refused.value.errors[0].message
    assert event_items(dynamodb, test_settings.usage_table) == []
    assert send(21).accepted == ("m21",)


def test_a_resend_of_stored_events_after_the_buyer_left_is_told_they_count(settings: Settings, dynamodb: Any) -> None:
    # Given events stored (their answer lost), and the buyer's subscription ended since
    test_settings = replace(settings, products=(PRODUCT,))
    customers = DynamoCustomerRepository(dynamodb, test_settings.customers_table)
    ref = CustomerRef(PRODUCT.code, license_arn=LICENSE)
    customers.put(Customer(ref, "210987654321", SubscriptionState.ACTIVE, NOW - timedelta(days=1)))
    store = DynamoUsageStore(dynamodb, test_settings.usage_table, shards=4, retention=FIXED_DATE_RETENTION)
    events = [_event(event_id="kept"), _event(event_id="other")]
    record_usage(events[:1], settings=test_settings, customers=customers, store=store, clock=ManualClock(NOW))
    customers.put(Customer(ref, "210987654321", SubscriptionState.ENDED, NOW + timedelta(minutes=1)))
    # When the producer sends the batch again, Then it is refused (the buyer has left), and told what an earlier
    # request stored: a refusal never hides usage that is billed (fails on the code before: refused, no word)
    with pytest.raises(UsageRejected) as refused:
        record_usage(events, settings=test_settings, customers=customers, store=store, clock=ManualClock(NOW))
    assert [e.field for e in refused.value.errors] == ["events[1].license_arn"]
    assert refused.value.duplicates == ("kept",)
