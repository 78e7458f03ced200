"""CloudTrail LookupEvents over the Metering Service calls the emulator received, through an unmodified boto3 client."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.exceptions
import pytest

from ..cloudtrail import cloudtrail_time
from ..testing import usage_record
from .helpers import NOW, iso

SOURCE = {"AttributeKey": "EventSource", "AttributeValue": "metering-marketplace.amazonaws.com"}


@pytest.fixture
def env(marketplace):
    marketplace.admin.set_clock(iso(NOW))
    return marketplace


def _subscribe(env, account="111122223333"):
    return env.subscribe_buyer(account, start_time=iso(NOW - timedelta(days=2)))


def _near(moment: datetime, wanted: datetime) -> bool:
    """The emulator's moved clock keeps ticking: an event is stamped a moment after the time it was set to."""
    return timedelta(0) <= moment - wanted < timedelta(seconds=5)


def _all_events(client, **kwargs: Any) -> list[dict[str, Any]]:
    paginator = client.get_paginator("lookup_events")
    return [event for page in paginator.paginate(**kwargs) for event in page["Events"]]


def test_a_batch_meter_usage_call_is_recorded_as_aws_documents_it(env):
    sub = _subscribe(env)
    result = env.metering().batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", 7, NOW)])
    (event,) = env.cloudtrail().lookup_events(LookupAttributes=[SOURCE])["Events"]
    assert event["EventName"] == "BatchMeterUsage"
    assert event["EventSource"] == "metering-marketplace.amazonaws.com"
    assert event["ReadOnly"] == "false"
    assert _near(event["EventTime"], NOW)
    record = json.loads(event["CloudTrailEvent"])
    assert record["eventID"] == event["EventId"]
    assert record["eventType"] == "AwsApiCall"
    assert record["awsRegion"] == "us-east-1"
    assert record["userIdentity"]["accessKeyId"] == event["AccessKeyId"]
    assert record["requestID"] == result["ResponseMetadata"]["RequestId"]
    (sent,) = record["requestParameters"]["usageRecords"]
    assert sent == {
        "timestamp": "Nov 18, 2026 10:30:00 AM",
        "customerAWSAccountID": sub["account_id"],
        "licenseArn": sub["license_arn"],
        "dimension": "api_calls",
        "quantity": 7,
    }
    (answer,) = record["responseElements"]["results"]
    assert answer["status"] == "Success"
    assert answer["meteringRecordId"] == result["Results"][0]["MeteringRecordId"]
    assert answer["usageRecord"]["quantity"] == 7
    assert record["responseElements"]["unprocessedRecords"] == []
    assert "errorCode" not in record


def test_the_timestamp_is_written_the_way_cloudtrail_shows_it():
    assert cloudtrail_time(datetime(2018, 4, 19, 16, 32, 50, tzinfo=UTC)) == "Apr 19, 2018 4:32:50 PM"
    assert cloudtrail_time(datetime(2026, 1, 2, 0, 5, 9, tzinfo=UTC)) == "Jan 2, 2026 12:05:09 AM"
    assert cloudtrail_time(datetime(2026, 1, 2, 12, 0, 0, tzinfo=UTC)) == "Jan 2, 2026 12:00:00 PM"


def test_a_refused_call_is_recorded_with_its_error_and_no_response(env):
    sub = _subscribe(env)
    old = NOW - timedelta(hours=30)
    with pytest.raises(env.metering().exceptions.TimestampOutOfBoundsException):
        env.metering(max_attempts=1).batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", 1, old)])
    (event,) = env.cloudtrail().lookup_events()["Events"]
    record = json.loads(event["CloudTrailEvent"])
    assert record["errorCode"] == "TimestampOutOfBoundsException"
    assert "24 hours" in record["errorMessage"]
    assert record["responseElements"] is None
    assert record["requestParameters"]["usageRecords"][0]["quantity"] == 1


def test_a_lost_response_was_still_received_and_is_recorded_with_its_answer(env):
    sub = _subscribe(env)
    env.admin.put_faults(lost_response_rate=1.0)
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        env.metering(max_attempts=1).batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", 3, NOW)])
    env.admin.clear_faults()
    (event,) = env.cloudtrail().lookup_events()["Events"]
    (answer,) = json.loads(event["CloudTrailEvent"])["responseElements"]["results"]
    (billed,) = env.admin.ledger()
    assert answer["meteringRecordId"] == billed["metering_record_id"]


def _scoped_to(client: Any, operation: str, service: str, signing_name: str) -> Any:
    """``client`` with its next requests' credential scope rewritten to ``signing_name``."""

    def rescope(request: Any, **_: Any) -> None:
        scope = f"/{service_scope(service)}/".encode()
        header = request.headers["Authorization"]
        header = header if isinstance(header, bytes) else header.encode()
        request.headers["Authorization"] = header.replace(scope, f"/{signing_name}/".encode())

    client.meta.events.register(f"before-send.{service}.{operation}", rescope)
    return client


def service_scope(service: str) -> str:
    return "cloudtrail" if service == "cloudtrail" else "aws-marketplace"


def test_only_calls_that_reached_the_service_are_recorded(env):
    sub = _subscribe(env)
    env.metering(max_attempts=1).batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", 1, NOW)])
    env.metering().resolve_customer(RegistrationToken=sub["registration_token"])
    # refused by the front end (credential scoped to another service): never reached the Metering Service
    refused = _scoped_to(env.metering(max_attempts=1), "BatchMeterUsage", "marketplace-metering", "s3")
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        refused.batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", 2, NOW)])
    assert raised.value.response["Error"]["Code"] == "InvalidSignatureException"
    names = [e["EventName"] for e in env.cloudtrail().lookup_events()["Events"]]
    # ResolveCustomer carries a registration token and AWS documents no entry for it; LookupEvents is not metering
    assert names == ["BatchMeterUsage"]


def test_lookup_attributes_select_events(env):
    sub = _subscribe(env)
    env.metering().batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", 1, NOW)])
    env.metering(access_key_id="AKIAOTHERSELLERKEY01").batch_meter_usage(
        UsageRecords=[usage_record(sub, "api_calls", 1, NOW)]
    )
    client = env.cloudtrail()
    by_key = client.lookup_events(
        LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": "AKIAOTHERSELLERKEY01"}]
    )["Events"]
    assert [e["AccessKeyId"] for e in by_key] == ["AKIAOTHERSELLERKEY01"]
    by_name = client.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "BatchMeterUsage"}]
    )["Events"]
    assert len(by_name) == 2
    by_id = client.lookup_events(LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": by_key[0]["EventId"]}])
    assert [e["EventId"] for e in by_id["Events"]] == [by_key[0]["EventId"]]
    none = client.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "s3.amazonaws.com"}]
    )
    assert none["Events"] == []
    resources = client.lookup_events(LookupAttributes=[{"AttributeKey": "ResourceType", "AttributeValue": "x"}])
    assert resources["Events"] == []


def test_time_range_is_inclusive_and_results_come_newest_first(env):
    sub = _subscribe(env)
    client = env.metering()
    for minutes, quantity in ((0, 1), (10, 2), (20, 3)):
        env.admin.set_clock(iso(NOW + timedelta(minutes=minutes)))
        client.batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", quantity, NOW)])
    trail = env.cloudtrail()
    times = [e["EventTime"] for e in trail.lookup_events()["Events"]]
    expected = [NOW + timedelta(minutes=20), NOW + timedelta(minutes=10), NOW]
    assert all(_near(got, wanted) for got, wanted in zip(times, expected, strict=True))
    window = trail.lookup_events(StartTime=times[1], EndTime=times[0])
    assert [e["EventTime"] for e in window["Events"]] == times[:2]
    assert trail.lookup_events(StartTime=times[0] + timedelta(milliseconds=1))["Events"] == []


def test_paging_returns_every_event_once(env):
    sub = _subscribe(env)
    client = env.metering()
    for index in range(7):
        env.admin.set_clock(iso(NOW + timedelta(seconds=index)))
        client.batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", index + 1, NOW)])
    trail = env.cloudtrail()
    first = trail.lookup_events(LookupAttributes=[SOURCE], MaxResults=3)
    assert len(first["Events"]) == 3
    assert "NextToken" in first
    # an event recorded between pages does not shift the pages already being read
    client.batch_meter_usage(UsageRecords=[usage_record(sub, "storage_gb", 1, NOW)])
    rest = trail.lookup_events(LookupAttributes=[SOURCE], MaxResults=3, NextToken=first["NextToken"])
    later = trail.lookup_events(LookupAttributes=[SOURCE], MaxResults=3, NextToken=rest["NextToken"])
    assert "NextToken" not in later
    ids = [e["EventId"] for page in (first, rest, later) for e in page["Events"]]
    assert len(ids) == len(set(ids)) == 7
    assert len(_all_events(trail, LookupAttributes=[SOURCE], PaginationConfig={"PageSize": 2})) == 8


def test_a_token_is_only_valid_with_the_parameters_it_was_issued_for(env):
    sub = _subscribe(env)
    for index in range(3):
        env.metering().batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", index + 1, NOW)])
    trail = env.cloudtrail(max_attempts=1)
    token = trail.lookup_events(MaxResults=1)["NextToken"]
    with pytest.raises(trail.exceptions.InvalidNextTokenException):
        trail.lookup_events(MaxResults=1, NextToken=token, LookupAttributes=[SOURCE])
    with pytest.raises(trail.exceptions.InvalidNextTokenException):
        trail.lookup_events(NextToken="not-a-token")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"LookupAttributes": [SOURCE, SOURCE]}, "InvalidLookupAttributesException"),
        ({"StartTime": NOW, "EndTime": NOW - timedelta(seconds=1)}, "InvalidTimeRangeException"),
        ({"MaxResults": 51}, "InvalidMaxResultsException"),
        ({"LookupAttributes": [{"AttributeKey": "Colour", "AttributeValue": "x"}]}, "InvalidLookupAttributesException"),
        ({"EventCategory": "data"}, "InvalidEventCategoryException"),
    ],
)
def test_bad_parameters_are_refused_with_cloudtrails_own_errors(env, kwargs, error):
    trail = env.cloudtrail(max_attempts=1, parameter_validation=False)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        trail.lookup_events(**kwargs)
    assert raised.value.response["Error"]["Code"] == error
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_event_history_is_regional_and_keeps_90_days(env):
    sub = _subscribe(env)
    env.metering().batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", 1, NOW)])
    assert env.cloudtrail(region="eu-west-1").lookup_events()["Events"] == []
    env.admin.set_clock(iso(NOW + timedelta(days=89)))
    assert len(env.cloudtrail().lookup_events()["Events"]) == 1
    env.admin.set_clock(iso(NOW + timedelta(days=90, seconds=1)))
    assert env.cloudtrail().lookup_events()["Events"] == []


def test_delivery_delay_hides_an_event_until_it_has_passed(env):
    sub = _subscribe(env)
    env.admin.put_config(cloudtrail_delivery_delay_seconds=900)
    env.metering().batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", 1, NOW)])
    assert env.cloudtrail().lookup_events()["Events"] == []
    env.admin.advance_clock(900)
    assert len(env.cloudtrail().lookup_events()["Events"]) == 1


def test_a_lookup_signed_for_another_service_is_refused(env):
    trail = _scoped_to(env.cloudtrail(max_attempts=1), "LookupEvents", "cloudtrail", "aws-marketplace")
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        trail.lookup_events()
    assert raised.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_answers_match_the_model(env):
    from ..model_validation import output_violations

    sub = _subscribe(env)
    env.metering().batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", 1, NOW)])
    answer = env.cloudtrail().lookup_events(MaxResults=1)
    body = {k: v for k, v in answer.items() if k != "ResponseMetadata"}
    body["Events"] = [{**e, "EventTime": e["EventTime"].timestamp()} for e in body["Events"]]
    assert output_violations("cloudtrail", "LookupEvents", body) == []
