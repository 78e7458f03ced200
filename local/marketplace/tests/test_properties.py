"""Property tests: quantities are compared by value, and tag validation follows the service model."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..model_validation import service_model
from ..testing import usage_record
from .helpers import NOW, iso

PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
TAG_PATTERN = service_model("meteringmarketplace").shape_for("TagKey").metadata["pattern"]
# ECMA-262 "$" (what AWS's validator uses) matches only at the very end, unlike Python's.
ECMA_TAG_PATTERN = re.compile(TAG_PATTERN.removesuffix("$") + r"\Z")


@pytest.fixture
def env(marketplace):
    marketplace.admin.set_clock(iso(NOW))
    return marketplace


@PROPERTY_SETTINGS
@given(
    value=st.decimals(min_value=0, max_value=Decimal("9999999999"), places=3, allow_nan=False, allow_infinity=False),
    padding=st.integers(min_value=0, max_value=3),
)
def test_equal_quantities_in_any_spelling_are_idempotent(env, value, padding):
    env.admin.reset()
    env.admin.set_clock(iso(NOW))
    sub = env.subscribe_buyer(start_time=iso(NOW - timedelta(days=1)))
    canonical = format(value.normalize(), "f")
    spelled = canonical + ("." if "." not in canonical and padding else "") + "0" * padding
    client = env.metering()
    first = client.batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", canonical, NOW)])["Results"][0]
    again = client.batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", spelled, NOW)])["Results"][0]
    assert (again["Status"], again["MeteringRecordId"]) == ("Success", first["MeteringRecordId"])
    if value == value.to_integral_value() and value <= 2147483647:
        as_int = client.batch_meter_usage(UsageRecords=[usage_record(sub, "api_calls", int(value), NOW)])
        assert as_int["Results"][0]["MeteringRecordId"] == first["MeteringRecordId"]


@PROPERTY_SETTINGS
@given(key=st.one_of(st.text(min_size=1, max_size=12), st.sampled_from(["ok\n", "a b", "x/y@z", "k{"])))
def test_tag_keys_are_judged_by_the_model_pattern(env, key):
    env.admin.reset()
    env.admin.set_clock(iso(NOW))
    sub = env.subscribe_buyer(start_time=iso(NOW - timedelta(days=1)))
    client = env.metering(parameter_validation=False, max_attempts=1)
    allocation = {"AllocatedUsageQuantity": 1, "Tags": [{"Key": key, "Value": "v"}]}
    record = usage_record(sub, "api_calls", 1, NOW, UsageAllocations=[allocation])
    if ECMA_TAG_PATTERN.search(key):
        assert client.batch_meter_usage(UsageRecords=[record])["Results"][0]["Status"] == "Success"
    else:
        with pytest.raises(client.exceptions.InvalidTagException):
            client.batch_meter_usage(UsageRecords=[record])
