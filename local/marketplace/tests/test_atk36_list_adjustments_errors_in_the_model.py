"""Attack 36 (on 1277846): ListBillingAdjustmentRequests answers only errors botocore's model declares for it.

The model (marketplace-agreement, ``ListBillingAdjustmentRequests.errors``) lists ValidationException,
AccessDeniedException, ThrottlingException and InternalServerException: no ResourceNotFoundException (which
GetBillingAdjustmentRequest does list). The emulator answers an agreement it does not know with
ResourceNotFoundException, an error AWS does not document for the operation, so a client tested against the emulator
handles an answer AWS never gives and not the one it does."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError


def _declared(operation: str) -> set[str]:
    model = botocore.session.get_session().get_service_model("marketplace-agreement")
    return {shape.name for shape in model.operation_model(operation).error_shapes}


@pytest.fixture
def env(marketplace: Any) -> Any:
    marketplace.admin.set_clock("2026-11-26T10:05:00Z")
    return marketplace


def test_listing_an_unknown_agreements_adjustments_answers_an_error_the_model_declares(env: Any) -> None:
    declared = _declared("ListBillingAdjustmentRequests")
    assert "ResourceNotFoundException" not in declared
    try:
        answer = env.agreement().list_billing_adjustment_requests(agreementId="agmt-unknown0000000000000000")
    except ClientError as error:
        code = error.response["Error"]["Code"]
        assert code in declared, f"{code} is not among {sorted(declared)}"
    else:
        assert answer["items"] == []
