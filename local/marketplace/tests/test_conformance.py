"""The conformance table's claims hold: every error each served operation's model lists is one the emulator says when
it answers, every operation served is in its model, and a seller's operation signed by another account is refused
as AWS's front end refuses it."""

from __future__ import annotations

import botocore.exceptions
import pytest

from ..catalog import NOT_SERVED, OPERATIONS
from ..conformance import SERVICES, conformance_table, missing_errors
from ..model_validation import service_model
from .helpers import NOW, iso


def test_every_modelled_error_of_a_served_operation_is_accounted_for() -> None:
    assert missing_errors() == []


def test_every_served_operation_is_one_of_its_models() -> None:
    for service, name in OPERATIONS:
        assert name in service_model(service).operation_names, (service, name)


def test_the_table_lists_every_modelled_operation_once() -> None:
    table = conformance_table()
    for service in SERVICES:
        for name in service_model(service).operation_names:
            assert table.count(f"| `{name}` |") == 1, name
        unserved = [n for n in service_model(service).operation_names if (service, n) not in OPERATIONS]
        assert not unserved or service in NOT_SERVED  # an operation not served says why


def test_an_unserved_operation_answers_unknown_operation(marketplace) -> None:
    agreement = marketplace.agreement(max_attempts=1)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        agreement.describe_agreement(agreementId="agmt-1234567890")
    assert caught.value.response["Error"]["Code"] == "UnknownOperationException"


@pytest.mark.parametrize("operation", ["resolve_customer", "get_entitlements", "batch_meter_usage"])
def test_a_sellers_operation_signed_by_another_account_is_access_denied(marketplace, operation) -> None:
    marketplace.admin.set_clock(now=iso(NOW))
    sub = marketplace.subscribe_buyer()
    marketplace.admin.put_config(access_key_accounts={"AKIAOTHERACCOUNT0001": "999988887777"})
    service = "marketplace-entitlement" if operation == "get_entitlements" else "meteringmarketplace"
    client = (marketplace.entitlement if service != "meteringmarketplace" else marketplace.metering)(
        access_key_id="AKIAOTHERACCOUNT0001", max_attempts=1
    )
    calls = {
        "resolve_customer": lambda: client.resolve_customer(RegistrationToken="made-up-token"),
        "get_entitlements": lambda: client.get_entitlements(ProductCode=sub["product_code"]),
        "batch_meter_usage": lambda: client.batch_meter_usage(
            UsageRecords=[
                {
                    "Timestamp": NOW,
                    "Dimension": "api_calls",
                    "Quantity": 1,
                    "CustomerAWSAccountId": sub["account_id"],
                    "LicenseArn": sub["license_arn"],
                }
            ]
        ),
    }
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        calls[operation]()
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "999988887777" in caught.value.response["Error"]["Message"]
    assert marketplace.admin.ledger() == []
    # the seller's own key, mapped to the seller's account or not mapped at all, is let through
    own = (marketplace.entitlement if service != "meteringmarketplace" else marketplace.metering)(max_attempts=1)
    if operation == "get_entitlements":
        assert "Entitlements" in own.get_entitlements(ProductCode=sub["product_code"])
    else:
        with pytest.raises(own.exceptions.InvalidTokenException):
            own.resolve_customer(RegistrationToken="made-up-token")
