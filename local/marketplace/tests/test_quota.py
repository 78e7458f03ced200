"""The per-seller token bucket in front of BatchMeterUsage."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ..testing import usage_record
from .helpers import NOW, iso


@pytest.fixture
def env(marketplace):
    marketplace.admin.set_clock(iso(NOW))
    marketplace.admin.put_config(quota_per_second=2, quota_burst=2)
    return marketplace


def _fire(env, client, sub, count):
    accepted, throttled = 0, 0
    for i in range(count):
        # A distinct hour per call, so every accepted call adds exactly one ledger record.
        record = usage_record(sub, "api_calls", 1, NOW - timedelta(hours=i))
        try:
            client.batch_meter_usage(UsageRecords=[record])
            accepted += 1
        except client.exceptions.ThrottlingException:
            throttled += 1
    return accepted, throttled


def test_calls_above_the_quota_are_throttled(env):
    sub = env.subscribe_buyer(start_time=iso(NOW - timedelta(days=1)))
    client = env.metering(max_attempts=1)
    accepted, throttled = _fire(env, client, sub, 10)
    assert throttled > 0
    assert accepted >= 2
    assert accepted + throttled == 10
    assert len(env.admin.ledger()) == accepted
    accepted_calls = [c for c in env.admin.calls(operation="BatchMeterUsage") if c["error_code"] is None]
    assert len(accepted_calls) == accepted
    assert len(env.admin.calls(error_code="ThrottlingException")) == throttled


def test_quota_is_per_seller_access_key(env):
    sub = env.subscribe_buyer(start_time=iso(NOW - timedelta(days=1)))
    first = env.metering(max_attempts=1, access_key_id="AKIAFIRSTSELLER00001")
    _fire(env, first, sub, 4)
    second = env.metering(max_attempts=1, access_key_id="AKIASECONDSELLER0001")
    assert second.batch_meter_usage(UsageRecords=[])


def test_moving_the_clock_does_not_refill_the_bucket(env):
    env.admin.put_config(quota_per_second=0.001, quota_burst=1)
    client = env.metering(max_attempts=1)
    client.batch_meter_usage(UsageRecords=[])
    env.admin.advance_clock(3600)
    with pytest.raises(client.exceptions.ThrottlingException):
        client.batch_meter_usage(UsageRecords=[])


def test_botocore_retries_throttling_in_standard_mode(env):
    env.admin.put_config(quota_per_second=1000, quota_burst=1)
    client = env.metering(max_attempts=5)
    client.batch_meter_usage(UsageRecords=[])
    # The bucket refills quickly, so a retried call eventually gets through.
    assert client.batch_meter_usage(UsageRecords=[])["ResponseMetadata"]["HTTPStatusCode"] == 200
