"""GetAgreementEntitlements through an unmodified boto3 client: the agreement's licence and its status in the model's
shape, following the agreement to its end, and an unknown agreement refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ..model_validation import output_violations

SERVICE = "marketplace-agreement"
PRODUCT = "entitled-product"
BUYER = "111122223333"


@pytest.fixture
def env(marketplace: Any) -> Any:
    marketplace.admin.create_product(PRODUCT, ["api_calls"])
    return marketplace


def test_get_agreement_entitlements_names_the_licence_and_follows_the_agreement(env: Any) -> None:
    client, raw = env.agreement(), []
    client.meta.events.register("after-call.*", lambda http_response, **_: raw.append(http_response.content))
    sub = env.admin.subscribe(PRODUCT, BUYER)
    (found,) = client.get_agreement_entitlements(agreementId=sub["agreement_id"])["agreementEntitlements"]
    assert output_violations(SERVICE, "GetAgreementEntitlements", json.loads(raw[-1])) == []
    assert (found["licenseArn"], found["status"]) == (sub["license_arn"], "PROVISIONED")
    assert found["registrationToken"] == sub["registration_token"]
    env.admin.finalize(sub["agreement_id"])
    (ended,) = client.get_agreement_entitlements(agreementId=sub["agreement_id"])["agreementEntitlements"]
    assert (ended["status"], ended["statusReasonCode"]) == ("DEPROVISIONED", "AGREEMENT_INACTIVE")
    assert "registrationToken" not in ended
    with pytest.raises(ClientError) as unknown:
        client.get_agreement_entitlements(agreementId="agmt-nosuchagreement")
    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"
