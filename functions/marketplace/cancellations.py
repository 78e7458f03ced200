"""SendAgreementCancellationRequest (AWS Marketplace Agreement Service): the seller asks the buyer to let an agreement
be cancelled.

Its client keeps botocore's standard retries: every request carries a client token, so a resend after a lost answer is
the same request, never a second one.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.lifecycle.cancellation import CancellationRefused, CancellationRequest, CancellationUnavailable

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
