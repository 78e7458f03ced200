"""Every modelled error is reachable through the fault queue and surfaces as botocore's modelled class."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ..model_validation import operation_model, service_model

VALID_PARAMS: dict[str, dict[str, Any]] = {
    "BatchMeterUsage": {"UsageRecords": []},
    "MeterUsage": {"ProductCode": "p", "Timestamp": datetime(2026, 11, 18, tzinfo=UTC), "UsageDimension": "d"},
    "RegisterUsage": {"ProductCode": "p", "PublicKeyVersion": 1},
    "ResolveCustomer": {"RegistrationToken": "t"},
    "GetEntitlements": {"ProductCode": "p"},
}
SERVICES = {"GetEntitlements": "marketplace-entitlement"}


def _cases():
    for service in ("meteringmarketplace", "marketplace-entitlement"):
        for operation in service_model(service).operation_names:
            for shape in operation_model(service, operation).error_shapes:
                yield pytest.param(service, operation, shape.name, id=f"{operation}-{shape.name}")


def _method(operation):
    return "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")


def test_every_documented_error_code_is_covered():
    codes = {p.values[2] for p in _cases()}
    required = {
        "DuplicateRequestException", "ExpiredTokenException", "InternalServiceErrorException",
        "InvalidCustomerIdentifierException", "InvalidEndpointRegionException", "InvalidProductCodeException",
        "InvalidTokenException", "InvalidUsageDimensionException", "ThrottlingException",
        "TimestampOutOfBoundsException", "InvalidLicenseException", "InvalidTagException",
        "InvalidUsageAllocationsException", "DisabledApiException", "CustomerNotEntitledException",
        "IdempotencyConflictException", "InvalidPublicKeyVersionException", "InvalidRegionException",
        "PlatformNotSupportedException",
    }  # fmt: skip
    assert required <= codes


@pytest.mark.parametrize(("service", "operation", "code"), list(_cases()))
def test_queued_error_raises_the_modelled_exception(marketplace, service, operation, code):
    client = (
        marketplace.metering(max_attempts=1)
        if service == "meteringmarketplace"
        else (marketplace.entitlement(max_attempts=1))
    )
    # "Throttling" without the suffix is accepted too; use the short form for half of them.
    queued = code.removesuffix("Exception") if len(code) % 2 else code
    marketplace.admin.queue_errors({"operation": operation, "code": queued})
    exception_class = getattr(client.exceptions, code)
    with pytest.raises(exception_class) as caught:
        getattr(client, _method(operation))(**VALID_PARAMS[operation])
    # IdempotencyConflictException carries httpError 409 in AWS's Smithy model (see test_js_sdk.py).
    expected_status = {"InternalServiceErrorException": 500, "IdempotencyConflictException": 409}.get(code, 400)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == expected_status
    assert caught.value.response["Error"]["Code"] == code
    (call,) = marketplace.admin.calls()
    assert call["error_code"] == code
    assert call["operation"] == operation


def test_queue_matches_operation_and_counts(marketplace):
    sub = marketplace.subscribe_buyer()
    client = marketplace.metering(max_attempts=1)
    marketplace.admin.queue_errors({"operation": "ResolveCustomer", "code": "InternalServiceError", "count": 2})
    # A BatchMeterUsage call does not consume a ResolveCustomer error.
    assert client.batch_meter_usage(UsageRecords=[])["Results"] == []
    for _ in range(2):
        with pytest.raises(client.exceptions.InternalServiceErrorException):
            client.resolve_customer(RegistrationToken=sub["registration_token"])
    assert client.resolve_customer(RegistrationToken=sub["registration_token"])["LicenseArn"] == sub["license_arn"]
    assert marketplace.admin.get_faults()["next_errors"] == []


def test_queued_errors_are_retried_by_botocore_standard_mode(marketplace):
    sub = marketplace.subscribe_buyer()
    marketplace.admin.queue_errors({"operation": "*", "code": "ThrottlingException", "count": 2})
    client = marketplace.metering(max_attempts=3)
    result = client.resolve_customer(RegistrationToken=sub["registration_token"])
    assert result["ResponseMetadata"]["RetryAttempts"] == 2
