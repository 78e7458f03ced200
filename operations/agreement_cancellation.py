"""SendAgreementCancellationRequest (AWS Marketplace Agreement Service), for ``cli cancel-agreement``: asking a buyer
to let an agreement be cancelled (a test agreement at go-live), with the model's reason codes.

Only the operator asks it, with their own credentials: no function of the stack does, so it lives here and not in
``functions/`` (whose modules are each one a handler imports: ``tests/infra/test_deployed_asset.py``). What follows is
the lifecycle's: the request's events are kept as notices, and an approved one ends the buyer through the final-usage
path (``functions.lifecycle.service``).

Its client keeps botocore's standard retries: every request carries a client token, so a resend after a lost answer is
the same request, never a second one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

# botocore's marketplace-agreement model, AgreementCancellationRequestReasonCode
REASON_CODES = (
    "INCORRECT_TERMS_ACCEPTED",
    "REPLACING_AGREEMENT",
    "TEST_AGREEMENT",
    "ALTERNATIVE_PROCUREMENT_CHANNEL",
    "PRODUCT_DISCONTINUED",
    "UNINTENDED_RENEWAL",
    "BUYER_DISSATISFACTION",
    "OTHER",
)
DESCRIPTION_LIMIT = 2000  # the model's AgreementCancellationRequestDescription


@dataclass(frozen=True)
class CancellationRequest:
    agreement_id: str
    request_id: str
    status: str  # PENDING_APPROVAL until the buyer answers (the request's events say what became of it)
    reason_code: str


class CancellationRefused(RuntimeError):
    """The Agreement Service refused the request (no such agreement, not ours, not live, one already pending...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class CancellationUnavailable(RuntimeError):
    """The Agreement Service could not be asked (throttled, a server fault, no connection): ask again (the same
    client token makes a retry the same request)."""


# the model's errors that are answers about the request itself: asking again changes nothing
REFUSALS = {"ValidationException", "ResourceNotFoundException", "ConflictException", "AccessDeniedException"}


class MarketplaceAgreementCancellations:
    def __init__(self, client: Any) -> None:
        self._client = client

    def send(
        self, agreement_id: str, reason_code: str, description: str | None, client_token: str
    ) -> CancellationRequest:
        request: dict[str, Any] = {"agreementId": agreement_id, "reasonCode": reason_code, "clientToken": client_token}
        if description:
            request["description"] = description
        try:
            answer = self._client.send_agreement_cancellation_request(**request)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", "Unknown"))
            message = str(error.response.get("Error", {}).get("Message", ""))
            if code in REFUSALS:
                raise CancellationRefused(code, message) from None
            raise CancellationUnavailable(code) from None
        except BotoCoreError as error:
            raise CancellationUnavailable(type(error).__name__) from None
        return CancellationRequest(
            agreement_id=str(answer.get("agreementId", agreement_id)),
            request_id=str(answer["agreementCancellationRequestId"]),
            status=str(answer.get("status", "")),
            reason_code=str(answer.get("reasonCode", reason_code)),
        )
