"""SendAgreementCancellationRequest (AWS Marketplace Agreement Service): the seller asks the buyer to let an agreement
be cancelled (a test agreement at go-live, terms accepted in error...).

A request starts ``PENDING_APPROVAL``; the buyer approves or rejects it (the admin API's ``cancellation/approve`` and
``cancellation/reject`` steps stand in for the buyer's AcceptAgreementCancellationRequest and
RejectAgreementCancellationRequest). Each status change sends its ``Agreement Cancellation Request <status> -
Proposer`` event in the shape of the seller guide's example (``eventbridge.EventFactory.cancellation``); an approved
request cancels the agreement, which then ends as any cancelled agreement does (Ended, License Deprovisioned).
README.md ("SendAgreementCancellationRequest") gives the sources and what the emulator chose.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from .agreement_terms import sellers_agreement
from .clock import iso, parse_iso
from .errors import AdminError, ApiError
from .operation import AGREEMENT, Answer, Operation, Request
from .world import Subscription, World

PENDING_APPROVAL = "PENDING_APPROVAL"
APPROVED = "APPROVED"
REJECTED = "REJECTED"
# an agreement that can still be cancelled: the emulator's live statuses (world.SUBSCRIPTION_STATUSES)
CANCELLABLE = ("pending", "active")


def _fingerprint(params: dict[str, Any]) -> str:
    fields = (params["agreementId"], params["reasonCode"], params.get("description") or "")
    return hashlib.sha256("\0".join(fields).encode()).hexdigest()


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """The request as the API answers it (SendAgreementCancellationRequestOutput: no statusMessage)."""
    keys = ("agreementId", "agreementCancellationRequestId", "status", "reasonCode", "description")
    shown = {key: request[key] for key in keys if request.get(key) is not None}
    # kept as text in the state file; answered as timestamps, which the protocol writes as it writes every time
    return {**shown, "createdAt": parse_iso(request["createdAt"]), "updatedAt": parse_iso(request["updatedAt"])}


def send(world: World, params: dict[str, Any], now: datetime) -> tuple[dict[str, Any], bool]:
    """The request the call makes, and whether it is new (a retry with its clientToken answers the first one)."""
    agreement_id = str(params["agreementId"])
    token = params.get("clientToken")
    if token:
        for existing in world.cancellation_requests.values():
            if existing.get("clientToken") == token:
                if existing["fingerprint"] != _fingerprint(params):
                    raise ApiError(
                        "ConflictException",
                        f"clientToken {token} was used for another request",
                        fields={"resourceId": existing["agreementCancellationRequestId"], "resourceType": "Agreement"},
                    )
                return existing, False
    # only the proposer may ask (API reference: "Allows sellers (proposers)")
    sub = sellers_agreement(world, agreement_id, role="the proposer of")
    if sub.status not in CANCELLABLE:
        raise ApiError(
            "ConflictException",
            f"Agreement {agreement_id} is not active",
            fields={"resourceId": agreement_id, "resourceType": "Agreement"},
        )
    requests = world.cancellation_requests.values()
    if any(r["agreementId"] == agreement_id and r["status"] == PENDING_APPROVAL for r in requests):
        raise ApiError(
            "ConflictException",
            f"Agreement {agreement_id} already has a cancellation request pending approval",
            fields={"resourceId": agreement_id, "resourceType": "Agreement"},
        )
    request_id = "acr-" + uuid.uuid4().hex[:20]
    request = {
        "agreementId": agreement_id,
        "agreementCancellationRequestId": request_id,
        "status": PENDING_APPROVAL,
        "reasonCode": str(params["reasonCode"]),
        "description": params.get("description"),
        "createdAt": iso(now),
        "updatedAt": iso(now),
        "clientToken": token,
        "fingerprint": _fingerprint(params),
    }
    world.cancellation_requests[request_id] = request
    return request, True


def pending_request(world: World, sub: Subscription) -> dict[str, Any]:
    """The agreement's request awaiting the buyer's answer (the admin API's 409 when there is none)."""
    for request in world.cancellation_requests.values():
        if request["agreementId"] == sub.agreement_id and request["status"] == PENDING_APPROVAL:
            return request
    raise AdminError(f"agreement {sub.agreement_id} has no cancellation request pending approval", 409)


def decide(request: dict[str, Any], status: str, now: datetime) -> None:
    request["status"] = status
    request["updatedAt"] = iso(now)


def _send_agreement_cancellation_request(request: Request) -> Answer:
    made, new = send(request.world, request.params, request.now)
    if new:  # a retry sends no second event
        request.emit("cancellation", request.world.subscriptions[made["agreementId"]], cancellation=made)
    return answer(made), {"agreement_id": made["agreementId"], "status": made["status"], "new": new}


SEND_AGREEMENT_CANCELLATION_REQUEST = Operation(
    AGREEMENT,
    "SendAgreementCancellationRequest",
    _send_agreement_cancellation_request,
    {
        "ValidationException": "a model violation (with the model's `reason` and `fields`)",
        "AccessDeniedException": "a channel partner's agreement (`proposer_account_id` on subscribe): not the proposer",
        "ResourceNotFoundException": "no such agreement",
        "ConflictException": (
            "the agreement is no longer live, it already has a request pending approval, or the clientToken was used "
            "for another request"
        ),
        "ThrottlingException": (
            "over config `operation_quotas.SendAgreementCancellationRequest` (unlimited by default); HTTP 429"
        ),
        "InternalServerException": "a random server fault (faults `internal_error_rate`)",
    },
)
