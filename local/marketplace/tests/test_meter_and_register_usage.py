"""MeterUsage and RegisterUsage (AMI/container products), signed with the buyer's credentials."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from .helpers import NOW, iso

BUYER = "111122223333"


@pytest.fixture
def env(marketplace):
    marketplace.admin.set_clock(iso(NOW))
    marketplace.product("ami-product", ["hours", "gb"])
    marketplace.admin.subscribe("ami-product", BUYER)
    return marketplace


def _buyer_client(env, **kwargs):
    # A 12-digit access key id stands for the buyer's account (see config access_key_accounts).
    return env.metering(access_key_id=BUYER, max_attempts=1, **kwargs)


def _params(**overrides):
    params = {"ProductCode": "ami-product", "Timestamp": NOW, "UsageDimension": "hours", "UsageQuantity": 3}
    params.update(overrides)
    return params


def test_meter_usage_records_and_is_idempotent_per_hour(env):
    client = _buyer_client(env)
    first = client.meter_usage(**_params())["MeteringRecordId"]
    again = client.meter_usage(**_params(Timestamp=NOW - timedelta(minutes=20)))["MeteringRecordId"]
    assert first == again
    (record,) = env.admin.ledger()
    assert record["operation"] == "MeterUsage"
    assert record["customer_aws_account_id"] == BUYER


def test_meter_usage_changed_quantity_is_a_duplicate_request(env):
    client = _buyer_client(env)
    client.meter_usage(**_params())
    with pytest.raises(client.exceptions.DuplicateRequestException):
        client.meter_usage(**_params(UsageQuantity=4))


def test_meter_usage_decimal_equal_by_value(env):
    client = _buyer_client(env)
    first = client.meter_usage(**_params())["MeteringRecordId"]
    params = _params(UsageQuantityAsDecimal="3.000")
    del params["UsageQuantity"]
    assert client.meter_usage(**params)["MeteringRecordId"] == first


def test_client_token_reuse(env):
    client = _buyer_client(env)
    first = client.meter_usage(**_params(ClientToken="token-1"))["MeteringRecordId"]
    assert client.meter_usage(**_params(ClientToken="token-1"))["MeteringRecordId"] == first
    with pytest.raises(client.exceptions.IdempotencyConflictException):
        client.meter_usage(**_params(ClientToken="token-1", UsageDimension="gb"))


def test_dry_run_does_not_record(env):
    client = _buyer_client(env)
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.meter_usage(**_params(DryRun=True))
    assert caught.value.response["Error"]["Code"] == "DryRunOperation"
    assert env.admin.ledger() == []


def test_meter_usage_semantic_errors(env):
    client = _buyer_client(env)
    with pytest.raises(client.exceptions.InvalidProductCodeException):
        client.meter_usage(**_params(ProductCode="other"))
    with pytest.raises(client.exceptions.InvalidUsageDimensionException):
        client.meter_usage(**_params(UsageDimension="cpu"))
    with pytest.raises(client.exceptions.TimestampOutOfBoundsException):
        client.meter_usage(**_params(Timestamp=NOW - timedelta(hours=7)))
    with pytest.raises(client.exceptions.InvalidUsageAllocationsException):
        client.meter_usage(**_params(UsageAllocations=[{"AllocatedUsageQuantity": 2}]))
    stranger = env.metering(access_key_id="999988887777", max_attempts=1)
    with pytest.raises(stranger.exceptions.CustomerNotEntitledException):
        stranger.meter_usage(**_params())
    elsewhere = _buyer_client(env, region="eu-west-1")
    with pytest.raises(elsewhere.exceptions.InvalidEndpointRegionException):
        elsewhere.meter_usage(**_params())


def test_register_usage_returns_a_signed_jwt(env):
    client = _buyer_client(env)
    signature = client.register_usage(ProductCode="ami-product", PublicKeyVersion=1, Nonce="n-1")["Signature"]
    header, payload, _sig = signature.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["productCode"] == "ami-product"
    assert claims["nonce"] == "n-1"
    assert claims["customerAWSAccountId"] == BUYER
    assert json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["typ"] == "JWT"


def test_register_usage_semantic_errors(env):
    client = _buyer_client(env)
    with pytest.raises(client.exceptions.InvalidPublicKeyVersionException):
        client.register_usage(ProductCode="ami-product", PublicKeyVersion=2)
    with pytest.raises(client.exceptions.InvalidProductCodeException):
        client.register_usage(ProductCode="other", PublicKeyVersion=1)
    stranger = env.metering(access_key_id="999988887777", max_attempts=1)
    with pytest.raises(stranger.exceptions.CustomerNotEntitledException):
        stranger.register_usage(ProductCode="ami-product", PublicKeyVersion=1)
    elsewhere = _buyer_client(env, region="eu-west-1")
    with pytest.raises(elsewhere.exceptions.InvalidRegionException):
        elsewhere.register_usage(ProductCode="ami-product", PublicKeyVersion=1)
    env.admin.put_config(caller_platform="ec2")
    with pytest.raises(client.exceptions.PlatformNotSupportedException):
        client.register_usage(ProductCode="ami-product", PublicKeyVersion=1)
    env.admin.put_config(caller_platform="ecs", disabled_regions=["us-east-1"])
    with pytest.raises(client.exceptions.DisabledApiException):
        client.register_usage(ProductCode="ami-product", PublicKeyVersion=1)
