"""What the operator needs of SendAgreementCancellationRequest, as a port: asking a buyer to let an agreement be
cancelled (a test agreement at go-live), with the model's reason codes (``functions.marketplace.cancellations`` is the
adapter). What follows is the lifecycle's: the request's events are kept as notices, and an approved one ends the buyer
through the final-usage path (``functions.lifecycle.service``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

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


class AgreementCancellations(Protocol):
    def send(
        self, agreement_id: str, reason_code: str, description: str | None, client_token: str
    ) -> CancellationRequest: ...
