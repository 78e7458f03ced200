"""Run-time fault switches: 500s, unprocessed records, lost responses, latency, determinism by seed."""

from __future__ import annotations

import time
from datetime import timedelta

import botocore.exceptions
import pytest

from ..testing import usage_record
from .helpers import NOW, iso


@pytest.fixture
def env(marketplace):
    marketplace.admin.set_clock(iso(NOW))
    return marketplace


def _records(sub, count):
    return [usage_record(sub, "api_calls", i + 1, NOW - timedelta(hours=i)) for i in range(count)]


def _subscribe(env):
    return env.subscribe_buyer(start_time=iso(NOW - timedelta(days=1)))


def test_internal_error_rate(env):
    sub = _subscribe(env)
    env.admin.put_faults(internal_error_rate=1.0)
    client = env.metering(max_attempts=1)
    with pytest.raises(client.exceptions.InternalServiceErrorException) as caught:
        client.batch_meter_usage(UsageRecords=_records(sub, 2))
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert env.admin.ledger() == []


def test_all_unprocessed(env):
    sub = _subscribe(env)
    env.admin.put_faults(unprocessed_rate=1.0)
    result = env.metering().batch_meter_usage(UsageRecords=_records(sub, 3))
    assert result["Results"] == []
    assert len(result["UnprocessedRecords"]) == 3
    assert env.admin.ledger() == []


def test_unprocessed_records_are_not_committed_and_can_be_resent(env):
    sub = _subscribe(env)
    env.admin.put_faults(unprocessed_rate=0.5, seed=7)
    client = env.metering()
    result = client.batch_meter_usage(UsageRecords=_records(sub, 20))
    unprocessed = result["UnprocessedRecords"]
    assert 0 < len(unprocessed) < 20
    ledger_ids = {r["metering_record_id"] for r in env.admin.ledger()}
    assert ledger_ids == {r["MeteringRecordId"] for r in result["Results"]}
    ledger_hours = {r["hour"] for r in env.admin.ledger()}
    for record in unprocessed:
        assert iso(record["Timestamp"].replace(minute=0, second=0, microsecond=0)) not in ledger_hours
    env.admin.clear_faults()
    retried = client.batch_meter_usage(UsageRecords=unprocessed)
    assert [r["Status"] for r in retried["Results"]] == ["Success"] * len(unprocessed)
    assert len(env.admin.ledger()) == 20


def test_seed_makes_faults_reproducible(env):
    sub = _subscribe(env)
    client = env.metering()
    patterns = []
    for _ in range(2):
        env.admin.put_faults(unprocessed_rate=0.5, seed=42)
        result = client.batch_meter_usage(UsageRecords=_records(sub, 10))
        patterns.append([r["Quantity"] for r in result["UnprocessedRecords"]])
        env.admin.clear_faults()
        client.batch_meter_usage(UsageRecords=result["UnprocessedRecords"])
    assert patterns[0] == patterns[1]


def test_lost_response_commits_but_botocore_sees_a_connection_error(env):
    sub = _subscribe(env)
    env.admin.put_faults(lost_response_rate=1.0)
    client = env.metering(max_attempts=1)
    records = _records(sub, 3)
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        client.batch_meter_usage(UsageRecords=records)
    ledger = env.admin.ledger()
    assert len(ledger) == 3
    # Resending after the loss is safe: the same records come back with the same ids.
    env.admin.clear_faults()
    result = client.batch_meter_usage(UsageRecords=records)
    assert {r["MeteringRecordId"] for r in result["Results"]} == {r["metering_record_id"] for r in ledger}
    assert len(env.admin.ledger()) == 3


def test_lost_response_via_the_queue_then_botocore_retry_succeeds(env):
    sub = _subscribe(env)
    env.admin.queue_errors({"operation": "BatchMeterUsage", "code": "LostResponse"})
    client = env.metering(max_attempts=3)
    result = client.batch_meter_usage(UsageRecords=_records(sub, 1))
    assert result["ResponseMetadata"]["RetryAttempts"] == 1
    assert result["Results"][0]["Status"] == "Success"
    assert len(env.admin.ledger()) == 1


def test_latency(env):
    env.admin.put_faults(latency_ms=[40, 60])
    client = env.metering()
    started = time.monotonic()
    client.batch_meter_usage(UsageRecords=[])
    # Only a lower bound: the emulator sleeps at least the configured latency.
    assert time.monotonic() - started >= 0.04


def test_faults_can_target_operations(env):
    sub = _subscribe(env)
    env.admin.put_faults(internal_error_rate=1.0, operations=["ResolveCustomer"])
    client = env.metering(max_attempts=1)
    assert client.batch_meter_usage(UsageRecords=_records(sub, 1))["Results"]
    with pytest.raises(client.exceptions.InternalServiceErrorException):
        client.resolve_customer(RegistrationToken=sub["registration_token"])


def test_bad_fault_settings_are_refused(env):
    from ..admin_client import AdminAPIError

    with pytest.raises(AdminAPIError) as caught:
        env.admin.put_faults(internal_error_rate=2)
    assert caught.value.status == 400
