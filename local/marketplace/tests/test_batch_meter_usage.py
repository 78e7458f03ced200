"""BatchMeterUsage semantics, driven through an unmodified boto3 client."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from ..testing import usage_record
from .helpers import NOW, iso


@pytest.fixture
def env(marketplace):
    marketplace.admin.set_clock(iso(NOW))
    return marketplace


def _subscribe(env, account="111122223333", **fields):
    fields.setdefault("start_time", iso(NOW - timedelta(days=2)))
    return env.subscribe_buyer(account, **fields)


def _meter(client, records, **kwargs):
    return client.batch_meter_usage(UsageRecords=records, **kwargs)


def test_success_is_in_the_ledger(env):
    sub = _subscribe(
        env,
    )
    client = env.metering()
    result = _meter(client, [usage_record(sub, "api_calls", 5, NOW)])
    (item,) = result["Results"]
    assert item["Status"] == "Success"
    assert result["UnprocessedRecords"] == []
    (record,) = env.admin.ledger()
    assert record["metering_record_id"] == item["MeteringRecordId"]
    assert record["quantity"] == "5"
    assert record["hour"] == "2026-11-18T10:00:00Z"
    assert record["license_arn"] == sub["license_arn"]


def test_identical_resend_returns_the_same_metering_record_id(env):
    sub = _subscribe(
        env,
    )
    client = env.metering()
    first = _meter(client, [usage_record(sub, "api_calls", 17, NOW)])["Results"][0]
    # Same hour, same quantity expressed as a decimal string: compared by value, so identical.
    again = _meter(client, [usage_record(sub, "api_calls", "17.00", NOW - timedelta(minutes=10))])["Results"][0]
    assert again["Status"] == "Success"
    assert again["MeteringRecordId"] == first["MeteringRecordId"]
    assert len(env.admin.ledger()) == 1


def test_dedup_is_per_region_each_region_billing_its_own_record(env):
    # AWS's metering guidance: the seller meters where usage happens, a stack per Region; dedup is per Region
    sub = _subscribe(env)
    home, europe = env.metering(region="us-east-1"), env.metering(region="eu-west-1")
    first = _meter(home, [usage_record(sub, "api_calls", 7, NOW)])["Results"][0]
    there = _meter(europe, [usage_record(sub, "api_calls", 3, NOW)])["Results"][0]
    again = _meter(europe, [usage_record(sub, "api_calls", 3, NOW)])["Results"][0]
    changed = _meter(europe, [usage_record(sub, "api_calls", 4, NOW)])["Results"][0]
    assert (first["Status"], there["Status"], again["Status"], changed["Status"]) == (
        "Success",
        "Success",
        "Success",
        "DuplicateRecord",
    )
    assert there["MeteringRecordId"] != first["MeteringRecordId"]
    assert again["MeteringRecordId"] == there["MeteringRecordId"]
    billed = sorted((r["region"], r["quantity"]) for r in env.admin.ledger())
    assert billed == [("eu-west-1", "3"), ("us-east-1", "7")]


def test_changed_quantity_is_a_duplicate_record_and_the_first_stays_billed(env):
    sub = _subscribe(
        env,
    )
    client = env.metering()
    _meter(client, [usage_record(sub, "api_calls", "10.5", NOW)])
    result = _meter(client, [usage_record(sub, "api_calls", "11", NOW)])["Results"][0]
    assert result["Status"] == "DuplicateRecord"
    (record,) = env.admin.ledger()
    assert Decimal(record["quantity"]) == Decimal("10.5")


def test_each_hour_and_dimension_is_its_own_record(env):
    sub = _subscribe(
        env,
    )
    records = [
        usage_record(sub, "api_calls", 1, NOW),
        usage_record(sub, "api_calls", 2, NOW - timedelta(hours=1)),
        usage_record(sub, "storage_gb", "0.25", NOW),
    ]
    results = _meter(env.metering(), records)["Results"]
    assert [r["Status"] for r in results] == ["Success"] * 3
    assert len({r["MeteringRecordId"] for r in results}) == 3
    assert len(env.admin.ledger()) == 3


def test_quantity_defaults_to_zero(env):
    sub = _subscribe(
        env,
    )
    _meter(env.metering(), [usage_record(sub, "api_calls", None, NOW)])
    assert env.admin.ledger()[0]["quantity"] == "0"


def test_pending_subscription_is_not_subscribed_until_confirmed(env):
    sub = _subscribe(env, confirm=False)
    client = env.metering()
    result = _meter(client, [usage_record(sub, "api_calls", 1, NOW)])["Results"][0]
    assert result["Status"] == "CustomerNotSubscribed"
    assert env.admin.ledger() == []
    env.admin.confirm(sub["agreement_id"])
    assert _meter(client, [usage_record(sub, "api_calls", 1, NOW)])["Results"][0]["Status"] == "Success"


def test_metering_accepted_after_unsubscribe_until_finalize(env):
    sub = _subscribe(
        env,
    )
    client = env.metering()
    env.admin.unsubscribe(sub["agreement_id"])
    assert _meter(client, [usage_record(sub, "api_calls", 1, NOW)])["Results"][0]["Status"] == "Success"
    env.admin.finalize(sub["agreement_id"])
    result = _meter(client, [usage_record(sub, "storage_gb", 1, NOW)])["Results"][0]
    assert result["Status"] == "CustomerNotSubscribed"
    assert len(env.admin.ledger()) == 1


def test_grace_period_ends_on_the_emulator_clock(env):
    env.admin.put_config(unsubscribe_grace_seconds=600)
    sub = _subscribe(
        env,
    )
    client = env.metering()
    env.admin.unsubscribe(sub["agreement_id"])
    env.admin.advance_clock(601)
    now = NOW + timedelta(seconds=601)
    assert _meter(client, [usage_record(sub, "api_calls", 1, now)])["Results"][0]["Status"] == "CustomerNotSubscribed"
    assert env.admin.get_subscription(sub["agreement_id"])["status"] == "ended"


def test_mixed_batch_reports_each_status(env):
    active = _subscribe(env, "111122223333")
    ended = _subscribe(env, "444455556666")
    env.admin.finalize(ended["agreement_id"])
    client = env.metering()
    _meter(client, [usage_record(active, "api_calls", 1, NOW)])
    results = _meter(
        client,
        [
            usage_record(active, "api_calls", 1, NOW),
            usage_record(active, "api_calls", 2, NOW - timedelta(hours=2)),
            usage_record(ended, "api_calls", 1, NOW),
            usage_record(active, "storage_gb", 2, NOW - timedelta(hours=2)),
            usage_record(active, "storage_gb", 3, NOW - timedelta(hours=2)),
        ],
    )["Results"]
    assert [r["Status"] for r in results] == [
        "Success",
        "Success",
        "CustomerNotSubscribed",
        "Success",
        "DuplicateRecord",
    ]


def test_26_records_are_rejected(env):
    sub = _subscribe(
        env,
    )
    records = [usage_record(sub, "api_calls", 1, NOW - timedelta(hours=i % 20)) for i in range(26)]
    # botocore does not check the list maximum client-side: the server is what refuses it.
    client = env.metering()
    with pytest.raises(client.exceptions.ClientError) as caught:
        _meter(client, records)
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert (
        "'usageRecords' failed to satisfy constraint: Member must have length less than or equal to 25"
        in (error["Message"])
    )
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert env.admin.ledger() == []


def test_25_records_are_accepted(env):
    sub = _subscribe(
        env,
    )
    records = [usage_record(sub, "api_calls", i, NOW - timedelta(hours=i)) for i in range(13)]
    records += [usage_record(sub, "storage_gb", i, NOW - timedelta(hours=i)) for i in range(12)]
    results = _meter(env.metering(), records)["Results"]
    assert len(results) == 25
    assert len(env.admin.ledger()) == 25


def test_one_bad_record_rejects_the_whole_batch(env):
    sub = _subscribe(
        env,
    )
    client = env.metering()
    good = [usage_record(sub, "api_calls", 1, NOW - timedelta(hours=i)) for i in range(3)]
    with pytest.raises(client.exceptions.InvalidUsageDimensionException):
        _meter(client, [*good, usage_record(sub, "no_such_dimension", 1, NOW)])
    with pytest.raises(client.exceptions.TimestampOutOfBoundsException):
        _meter(client, [*good, usage_record(sub, "api_calls", 1, NOW - timedelta(hours=30))])
    assert env.admin.ledger() == []
    calls = env.admin.calls(operation="BatchMeterUsage")
    assert [c["error_code"] for c in calls] == ["InvalidUsageDimensionException", "TimestampOutOfBoundsException"]
    assert [c["record_count"] for c in calls] == [4, 4]


def test_both_quantity_fields_are_rejected(env):
    sub = _subscribe(
        env,
    )
    client = env.metering()
    with pytest.raises(client.exceptions.ClientError) as caught:
        _meter(client, [usage_record(sub, "api_calls", 1, NOW, QuantityAsDecimal="1")])
    assert caught.value.response["Error"]["Code"] == "ValidationException"


# -- customer modes ------------------------------------------------------------------------------------


def test_legacy_mode_uses_customer_identifier_and_product_code(env):
    env.product("legacy-product", customer_mode="legacy")
    sub = env.admin.subscribe("legacy-product", "111122223333")
    client = env.metering()
    resolved = client.resolve_customer(RegistrationToken=sub["registration_token"])
    assert resolved["CustomerIdentifier"] == sub["customer_identifier"]
    record = {
        "Timestamp": NOW,
        "CustomerIdentifier": resolved["CustomerIdentifier"],
        "Dimension": "api_calls",
        "Quantity": 4,
    }
    result = _meter(client, [record], ProductCode="legacy-product")["Results"][0]
    assert result["Status"] == "Success"
    assert env.admin.ledger(customer_identifier=sub["customer_identifier"])[0]["quantity"] == "4"
    assert len(env.admin.ledger(account_id="111122223333", product_code="legacy-product")) == 1
    assert env.admin.ledger(account_id="444455556666") == []


def test_legacy_mode_needs_product_code(env):
    env.product("legacy-product", customer_mode="legacy")
    sub = env.admin.subscribe("legacy-product", "111122223333")
    client = env.metering()
    with pytest.raises(client.exceptions.ClientError) as caught:
        _meter(client, [usage_record(sub, "api_calls", 1, NOW)])
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(client.exceptions.InvalidProductCodeException):
        _meter(client, [usage_record(sub, "api_calls", 1, NOW)], ProductCode="not-a-product")


def test_unknown_customer_identifier_is_invalid(env):
    env.product("legacy-product", customer_mode="legacy")
    client = env.metering()
    record = {"Timestamp": NOW, "CustomerIdentifier": "nobody", "Dimension": "api_calls", "Quantity": 1}
    with pytest.raises(client.exceptions.InvalidCustomerIdentifierException):
        _meter(client, [record], ProductCode="legacy-product")


def test_license_product_rejects_customer_identifier(env):
    sub = _subscribe(
        env,
    )
    client = env.metering()
    record = {"Timestamp": NOW, "CustomerIdentifier": sub["customer_identifier"], "Dimension": "api_calls"}
    with pytest.raises(client.exceptions.InvalidCustomerIdentifierException):
        _meter(client, [record], ProductCode=sub["product_code"])


def test_product_code_together_with_license_arn_is_rejected(env):
    sub = _subscribe(
        env,
    )
    client = env.metering()
    with pytest.raises(client.exceptions.ClientError) as caught:
        _meter(client, [usage_record(sub, "api_calls", 1, NOW)], ProductCode=sub["product_code"])
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert env.admin.ledger() == []


def test_invalid_licenses(env):
    sub = _subscribe(env, "111122223333")
    other = _subscribe(env, "444455556666")
    client = env.metering()
    unknown = usage_record(sub, "api_calls", 1, NOW, LicenseArn=sub["license_arn"][:-4] + "0000")
    with pytest.raises(client.exceptions.InvalidLicenseException):
        _meter(client, [unknown])
    wrong_customer = usage_record(sub, "api_calls", 1, NOW, LicenseArn=other["license_arn"])
    with pytest.raises(client.exceptions.InvalidLicenseException):
        _meter(client, [usage_record(sub, "api_calls", 1, NOW), wrong_customer])
    late = _subscribe(env, "777788889999", start_time=iso(NOW - timedelta(hours=1)))
    before_licence = usage_record(late, "api_calls", 1, NOW - timedelta(hours=3))
    with pytest.raises(client.exceptions.InvalidLicenseException):
        _meter(client, [before_licence])
    assert env.admin.ledger() == []


def test_disabled_region(env):
    env.admin.put_config(disabled_regions=["eu-central-1"])
    sub = _subscribe(
        env,
    )
    client = env.metering(region="eu-central-1")
    with pytest.raises(client.exceptions.DisabledApiException):
        _meter(client, [usage_record(sub, "api_calls", 1, NOW)])
    assert env.metering(region="eu-west-1").batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", 1, NOW)])


# -- timestamp window ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(hours=-23, minutes=-59), True),
        (timedelta(hours=-24), False),
        (timedelta(hours=-30), False),
        (timedelta(minutes=4), True),
        (timedelta(hours=1), False),
    ],
)
def test_timestamp_window(env, offset, accepted):
    sub = _subscribe(
        env,
    )
    env.admin.set_clock(iso(NOW + timedelta(days=1)))
    client = env.metering()
    record = usage_record(sub, "api_calls", 1, NOW + timedelta(days=1) + offset)
    if accepted:
        assert _meter(client, [record])["Results"][0]["Status"] == "Success"
    else:
        with pytest.raises(client.exceptions.TimestampOutOfBoundsException):
            _meter(client, [record])


def test_window_is_configurable(env):
    env.admin.put_config(window_hours=6)
    sub = _subscribe(
        env,
    )
    env.admin.set_clock(iso(NOW + timedelta(hours=8)))
    client = env.metering()
    with pytest.raises(client.exceptions.TimestampOutOfBoundsException):
        _meter(client, [usage_record(sub, "api_calls", 1, NOW)])


def test_previous_month_is_accepted_only_until_six_utc_on_the_first(env):
    env.admin.set_clock("2026-11-30T20:00:00Z")
    sub = _subscribe(
        env,
    )
    client = env.metering()
    late_november = usage_record(sub, "api_calls", 1, NOW.replace(day=30, hour=22))
    env.admin.set_clock("2026-12-01T05:59:00Z")
    assert _meter(client, [late_november])["Results"][0]["Status"] == "Success"
    env.admin.set_clock("2026-12-01T06:00:00Z")
    other_hour = usage_record(sub, "api_calls", 1, NOW.replace(day=30, hour=23))
    with pytest.raises(client.exceptions.TimestampOutOfBoundsException):
        _meter(client, [other_hour])
    # December records are of course fine.
    december = usage_record(sub, "api_calls", 1, NOW.replace(month=12, day=1, hour=5))
    assert _meter(client, [december])["Results"][0]["Status"] == "Success"


# -- usage allocations ---------------------------------------------------------------------------------


def _alloc(quantity, **tags):
    allocation: dict[str, Any] = {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}
    if isinstance(quantity, str):
        allocation["AllocatedUsageQuantityAsDecimal"] = quantity
    else:
        allocation["AllocatedUsageQuantity"] = quantity
    return allocation


def test_valid_allocations_with_one_untagged_bucket(env):
    sub = _subscribe(
        env,
    )
    allocations = [_alloc("1.5", team="a"), _alloc("2", team="b", env="prod"), _alloc("0.5")]
    record = usage_record(sub, "api_calls", "4", NOW, UsageAllocations=allocations)
    assert _meter(env.metering(), [record])["Results"][0]["Status"] == "Success"
    stored = env.admin.ledger()[0]["allocations"]
    assert {"quantity": "2", "tags": {"env": "prod", "team": "b"}} in stored
    assert {"quantity": "0.5", "tags": {}} in stored


@pytest.mark.parametrize(
    "allocations",
    [
        pytest.param([_alloc(1, team="a"), _alloc(1, team="b")], id="sum-differs"),
        pytest.param([_alloc("3", team="a")], id="decimal-allocation-for-integer-quantity"),
        pytest.param([_alloc(2, team="a"), _alloc(1, team="a")], id="same-tag-set-twice"),
        pytest.param([_alloc(2), _alloc(1)], id="two-untagged"),
        pytest.param([{"Tags": [{"Key": "team", "Value": "a"}]}], id="no-quantity"),
    ],
)
def test_invalid_usage_allocations(env, allocations):
    sub = _subscribe(
        env,
    )
    client = env.metering()
    with pytest.raises(client.exceptions.InvalidUsageAllocationsException):
        _meter(client, [usage_record(sub, "api_calls", 3, NOW, UsageAllocations=allocations)])
    assert env.admin.ledger() == []


def test_allocation_count_limits(env):
    sub = _subscribe(
        env,
    )
    client = env.metering(parameter_validation=False)
    too_many = [_alloc(0, n=str(i)) for i in range(2501)]
    with pytest.raises(client.exceptions.InvalidUsageAllocationsException):
        _meter(client, [usage_record(sub, "api_calls", 0, NOW, UsageAllocations=too_many)])
    with pytest.raises(client.exceptions.InvalidUsageAllocationsException):
        _meter(client, [usage_record(sub, "api_calls", 0, NOW, UsageAllocations=[])])
    most = [_alloc(0, n=str(i)) for i in range(2500)]
    assert _meter(client, [usage_record(sub, "api_calls", 0, NOW, UsageAllocations=most)])["Results"]


@pytest.mark.parametrize(
    "tags",
    [
        pytest.param([{"Key": f"k{i}", "Value": "v"} for i in range(6)], id="six-tags"),
        pytest.param([{"Key": "bad{key", "Value": "v"}], id="key-pattern"),
        pytest.param([{"Key": "k", "Value": "bad\u00e9value"}], id="value-pattern"),
        pytest.param([{"Key": "k" * 101, "Value": "v"}], id="key-too-long"),
        pytest.param([{"Key": "k", "Value": "a"}, {"Key": "k", "Value": "b"}], id="repeated-key"),
    ],
)
def test_invalid_tags(env, tags):
    sub = _subscribe(
        env,
    )
    client = env.metering(parameter_validation=False)
    record = usage_record(sub, "api_calls", 2, NOW, UsageAllocations=[{"AllocatedUsageQuantity": 2, "Tags": tags}])
    with pytest.raises(client.exceptions.InvalidTagException):
        _meter(client, [record])
