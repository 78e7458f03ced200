"""The producer client's own rules: events made once (id, UTC timestamp), batches within the API's limits (read
from the API's constants), refusals mapped back to the events that caused them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from functions.handlers.usage import MAX_BODY_BYTES
from functions.usage.schema import MAX_EVENTS, UsageEventIn
from usage_client.client import batches, completed_event, region_of, rejections_of, request_body, usage_event

LICENSE = "arn:aws:license-manager::123456789012:license:l-1"


def test_an_event_is_made_once_with_its_own_id_and_a_utc_timestamp_the_api_takes() -> None:
    first = usage_event("p", "api_calls", 5, license_arn=LICENSE, customer_aws_account_id="123456789012")
    second = usage_event("p", "api_calls", 5, license_arn=LICENSE, customer_aws_account_id="123456789012")
    assert first["event_id"] != second["event_id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["timestamp"])
    UsageEventIn.model_validate(first)  # the API's own model takes it as made
    assert completed_event(first) == first  # sending it (again) keeps its id and timestamp


def test_timestamps_are_converted_to_utc_and_naive_ones_refused() -> None:
    berlin = datetime(2026, 11, 29, 11, 30, tzinfo=timezone(timedelta(hours=1)))
    assert (
        usage_event("p", "d", 1, customer_identifier="c", timestamp=berlin)["timestamp"] == "2026-11-29T10:30:00.000Z"
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        usage_event("p", "d", 1, customer_identifier="c", timestamp=datetime(2026, 11, 29, 10, 30))


def test_quantities_are_sent_as_the_api_takes_them() -> None:
    assert usage_event("p", "d", Decimal("12.50"), customer_identifier="c")["quantity"] == "12.5"
    assert usage_event("p", "d", Decimal("3"), customer_identifier="c")["quantity"] == 3
    with pytest.raises(TypeError):
        usage_event("p", "d", 1.5, customer_identifier="c")  # type: ignore[arg-type]


def test_a_plain_dict_gets_an_id_and_timestamp_once_and_a_bad_id_is_refused_before_sending() -> None:
    completed = completed_event({"product_code": "p", "dimension": "d", "quantity": 1, "customer_identifier": "c"})
    assert completed["event_id"]
    assert completed["timestamp"].endswith("Z")
    assert datetime.fromisoformat(completed["timestamp"]) <= datetime.now(UTC)
    with pytest.raises(ValueError, match="event_id"):
        completed_event({**completed, "event_id": "has spaces"})


def test_batches_hold_at_most_the_apis_events_per_request() -> None:
    events = [completed_event(usage_event("p", "d", n, customer_identifier="c")) for n in range(2 * MAX_EVENTS + 50)]
    sizes = [len(batch) for batch in batches(events)]
    assert sizes == [MAX_EVENTS, MAX_EVENTS, 50]
    assert [e for batch in batches(events) for e in batch] == events  # in order, none lost


def test_batches_stay_within_the_apis_body_size() -> None:
    tags = {f"k{n}": "v" * 250 for n in range(5)}
    big = [
        usage_event(
            "p",
            "d",
            100,
            customer_identifier="c",
            allocations=[{"tags": {**tags, "n": str(i)}, "quantity": 1} for i in range(100)],
        )
        for _ in range(3)
    ]
    sized = list(batches(big))
    assert all(len(request_body(batch)) <= MAX_BODY_BYTES for batch in sized)
    assert len(sized) > 1
    with pytest.raises(ValueError, match="larger than"):
        list(batches([{**big[0], "product_code": "p" * MAX_BODY_BYTES}]))


def test_refusals_name_the_event_they_belong_to() -> None:
    batch = [usage_event("p", "d", n, customer_identifier="c") for n in range(3)]
    answer = {
        "message": "no event was stored",
        "errors": [
            {"field": "events[2].quantity", "message": "this dimension counts whole units"},
            {"field": "events", "message": "at most 100"},
        ],
    }
    rejections = rejections_of(batch, answer)
    assert (rejections[0].event, rejections[0].field) == (batch[2], "quantity")
    assert [r.event for r in rejections[1:]] == batch  # a refusal of the whole batch names every event


def test_the_region_is_read_from_an_api_gateway_url() -> None:
    assert region_of("https://abc123.execute-api.eu-west-1.amazonaws.com/prod/usage") == "eu-west-1"
    assert region_of("http://127.0.0.1:3000/usage") is None
