"""EventBridge events (source ``aws.agreement-marketplace``) in exactly the shapes of AWS's published examples.

Each builder copies one example's field set (``tests/fixtures/aws/*.json``, from the seller guide page
"Amazon EventBridge events"): the same keys, nesting and types, nothing added and nothing left out. README.md
("Notifications") lists which example each kind follows and where the emulator had to choose.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from .clock import parse_iso
from .world import Product, Subscription

SOURCE = "aws.agreement-marketplace"
REGION = "us-east-1"
CATALOG = "AWSMarketplace"
PROPOSER = "Proposer"
MANUFACTURER = "Manufacturer"
LICENSE_UPDATED = "License Updated - Manufacturer"
LICENSE_DEPROVISIONED = "License Deprovisioned - Manufacturer"
ENDING = "Purchase Agreement Ending - Proposer"
CENT = Decimal("0.01")
# A cancellation request's status as its event's detail-type spells it
CANCELLATION_STATUS_WORDS = {
    "PENDING_APPROVAL": "Pending Approval",
    "APPROVED": "Approved",
    "REJECTED": "Rejected",
    "CANCELLED": "Cancelled",
    "VALIDATION_FAILED": "Validation Failed",
}
# A billing adjustment's outcome as its event's detail-type spells it (AWS sends no event of a PENDING one)
ADJUSTMENT_OUTCOME_WORDS = {"COMPLETED": "Completed", "VALIDATION_FAILED": "Failed"}
# Pay-as-you-go agreements have no natural end; contracts run a year unless renewed.
CONTRACT_TERM = timedelta(days=365)
OPEN_ENDED_TERM = timedelta(days=365 * 100)
# AWS's examples put the renewal lockout (the last day to change auto-renewal) a month before the end.
RENEWAL_LOCKOUT = timedelta(days=30)


def event_time(value: str | datetime) -> str:
    """ISO 8601 UTC with Z in whole seconds, as every time in AWS's examples is written."""
    moment = parse_iso(value) if isinstance(value, str) else value
    return moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def agreement_start(sub: Subscription) -> datetime:
    return parse_iso(sub.confirmed_at or sub.created_at)


def agreement_end(sub: Subscription, product: Product) -> datetime:
    return agreement_start(sub) + (CONTRACT_TERM if product.pricing == "contract" else OPEN_ENDED_TERM)


class EventFactory:
    """Builds the events the seller's account receives, for one product, at one moment."""

    def __init__(self, config: dict[str, Any], product: Product, now: datetime) -> None:
        self.config = config
        self.product = product
        self.now = now
        self.seller = str(config["seller_account_id"])

    # -- who is who ------------------------------------------------------------------------------------

    def proposer_of(self, sub: Subscription) -> str:
        return sub.proposer_account_id or self.seller

    def seller_proposed(self, sub: Subscription) -> bool:
        """A direct offer: the seller is proposer and manufacturer, and gets only the ``- Proposer`` events."""
        return self.proposer_of(sub) == self.seller

    def party(self, sub: Subscription) -> str:
        return PROPOSER if self.seller_proposed(sub) else MANUFACTURER

    # -- the kinds -------------------------------------------------------------------------------------

    def created(self, sub: Subscription) -> dict[str, Any]:
        """``created_proposer_new.json``, a renewal ``created_proposer_renew.json``; ``created_manufacturer.json``
        for both intents, since AWS publishes no manufacturer renewal example (so no ``previousAgreementId``)."""
        renewal = sub.previous_agreement_id is not None
        agreement = self._agreement(sub, "RENEW" if renewal else "NEW", "ACTIVE")
        if not (renewal and self.seller_proposed(sub)):
            detail = self._tail(sub, agreement)
            return self._event(f"Purchase Agreement Created - {self.party(sub)}", sub.agreement_id, detail)
        agreement["previousAgreementId"] = sub.previous_agreement_id
        detail = self._head(agreement)
        detail["product"] = self._product_title()
        detail.update(self._parties(sub, named=True))
        return self._event(f"Purchase Agreement Created - {PROPOSER}", sub.agreement_id, detail)

    def amended(self, sub: Subscription) -> dict[str, Any]:
        """``amended_proposer.json`` / ``amended_manufacturer.json``."""
        agreement = self._agreement(sub, "AMEND", "ACTIVE")
        if not self.seller_proposed(sub):
            detail = self._tail(sub, agreement)
            return self._event(f"Purchase Agreement Amended - {MANUFACTURER}", sub.agreement_id, detail)
        agreement["autoRenewalEnabled"] = True
        detail = self._head(agreement)
        detail["renewalSummary"] = self._renewal_summary(sub)
        detail["product"] = self._product_title()
        detail.update(self._parties(sub))
        return self._event(f"Purchase Agreement Amended - {PROPOSER}", sub.agreement_id, detail)

    def ended(self, sub: Subscription, status: str = "CANCELLED") -> dict[str, Any]:
        """``ended_proposer.json`` / ``ended_manufacturer.json``; ``status`` RENEWED for a renewed agreement."""
        detail = self._tail(sub, {"id": sub.agreement_id, "status": status})
        return self._event(f"Purchase Agreement Ended - {self.party(sub)}", sub.agreement_id, detail)

    def ending(self, sub: Subscription, days_before_end: int) -> dict[str, Any] | None:
        """``ending_proposer.json``; AWS sends this advance notice to the proposer only."""
        if not self.seller_proposed(sub):
            return None
        agreement = {
            "id": sub.agreement_id,
            "startTime": event_time(agreement_start(sub)),
            "endTime": event_time(agreement_end(sub, self.product)),
            "status": "ACTIVE",
            "daysBeforeEndTime": days_before_end,
            "autoRenewalEnabled": True,
        }
        detail = self._head(agreement)
        detail["renewalSummary"] = self._renewal_summary(sub)
        detail["product"] = self._product_title()
        detail.update(self._parties(sub, named=True))
        return self._event(ENDING, sub.agreement_id, detail)

    def license_updated(self, sub: Subscription) -> dict[str, Any]:
        """``license_updated.json``."""
        return self._event(LICENSE_UPDATED, sub.agreement_id, self._license_detail(sub))

    def license_deprovisioned(self, sub: Subscription) -> dict[str, Any]:
        """``license_deprovisioned.json``."""
        return self._event(LICENSE_DEPROVISIONED, sub.agreement_id, self._license_detail(sub))

    def cancellation(self, sub: Subscription, request: dict[str, Any]) -> dict[str, Any]:
        """``cancellation_<status>_proposer.json``: the seller's own request, so only its proposer hears of it. The
        examples name the buyer and product inside ``agreement`` and list no resources."""
        status = CANCELLATION_STATUS_WORDS[str(request["status"])]
        detail = {
            "requestId": str(uuid.uuid4()),
            "catalog": CATALOG,
            "agreement": {
                "id": sub.agreement_id,
                "acceptorId": sub.account_id,
                "productId": self.product.id,
                "offerId": sub.offer_id,
            },
            "agreementCancellationRequest": {
                "id": request["agreementCancellationRequestId"],
                "reasonCode": request["reasonCode"],
                "reasonMessage": request.get("description") or "",
                "statusCode": request["status"],
                "statusMessage": "",
                "createdAt": event_time(str(request["createdAt"])),
                "updatedAt": event_time(str(request["updatedAt"])),
            },
        }
        event = self._event(f"Agreement Cancellation Request {status} - {PROPOSER}", sub.agreement_id, detail)
        event["resources"] = []
        return event

    def billing_adjustment(self, sub: Subscription, adjustment: dict[str, Any]) -> dict[str, Any]:
        """``billing_adjustment_completed_proposer.json``: the seller's refund, processed; one AWS failed,
        ``billing_adjustment_failed_proposer.json``, with the same fields. The examples name no buyer, list no
        resources, and write the amount as a credit: negative, where the request's was positive."""
        outcome = ADJUSTMENT_OUTCOME_WORDS[str(adjustment["status"])]
        detail = {
            "requestId": str(uuid.uuid4()),
            "catalog": CATALOG,
            "agreement": {"id": sub.agreement_id},
            "billingAdjustmentRequest": {
                "id": adjustment["billingAdjustmentRequestId"],
                # the example writes a credit with two decimals ("-100.00"), whatever the request's form
                "adjustmentAmount": "-" + format(Decimal(str(adjustment["adjustmentAmount"])).quantize(CENT), "f"),
                "currencyCode": adjustment["currencyCode"],
                "adjustmentReasonCode": adjustment["adjustmentReasonCode"],
            },
            "invoice": {"originalInvoiceId": adjustment["originalInvoiceId"]},
        }
        event = self._event(f"Purchase Agreement Billing Adjustment {outcome} - {PROPOSER}", sub.agreement_id, detail)
        event["resources"] = []
        return event

    # -- parts -----------------------------------------------------------------------------------------

    def license_arn(self, sub: Subscription) -> str:
        """``documented``: the example's ``aws:license-manager:us-east-1:<account>:l-<id>`` (no ``arn:``; the
        example's account is AWS's placeholder 123456789012, the emulator puts the seller's there); ``arn``: the
        LicenseArn ResolveCustomer returns. Both end in the same ``l-<id>``."""
        if self.config["eventbridge_license_arn_format"] == "arn":
            return sub.license_arn
        licence_id = sub.license_arn.rsplit(":license:", 1)[-1]
        return f"aws:license-manager:{REGION}:{self.seller}:{licence_id}"

    def _license_detail(self, sub: Subscription) -> dict[str, Any]:
        detail = self._head({"id": sub.agreement_id})
        detail["product"] = {"code": self.product.code, "id": self.product.id}
        detail["license"] = {"arn": self.license_arn(sub)}
        detail.update(self._parties(sub, resale=False))
        return detail

    def _agreement(self, sub: Subscription, intent: str, status: str) -> dict[str, Any]:
        return {
            "id": sub.agreement_id,
            "intent": intent,
            "status": status,
            "acceptanceTime": event_time(sub.created_at),
            "startTime": event_time(agreement_start(sub)),
            "endTime": event_time(agreement_end(sub, self.product)),
        }

    def _renewal_summary(self, sub: Subscription) -> dict[str, Any]:
        # Auto-renewal is never switched off in the emulator, so nobody disabled it.
        return {"lockoutStartTime": event_time(agreement_end(sub, self.product) - RENEWAL_LOCKOUT), "disabledBy": None}

    def _product_title(self) -> dict[str, Any]:
        return {"id": self.product.id, "title": self.product.name}

    def _head(self, agreement: dict[str, Any]) -> dict[str, Any]:
        return {"requestId": str(uuid.uuid4()), "catalog": CATALOG, "agreement": agreement}

    def _tail(self, sub: Subscription, agreement: dict[str, Any]) -> dict[str, Any]:
        detail = self._head(agreement)
        detail.update(self._parties(sub))
        return detail

    def _parties(self, sub: Subscription, *, named: bool = False, resale: bool = True) -> dict[str, Any]:
        """``resaleAuthorization`` (agreement sold through one), ``acceptor``, ``proposer``, ``offer``.

        Licence events never carry ``resaleAuthorization`` (their examples have none); ``proposer.name`` only
        where the example has it, and then it is the seller's (only the proposer's events have it).
        """
        parties: dict[str, Any] = {}
        if sub.resale_authorization_id and resale:
            parties["resaleAuthorization"] = {"id": sub.resale_authorization_id}
        parties["acceptor"] = {"accountId": sub.account_id}
        proposer: dict[str, Any] = {"accountId": self.proposer_of(sub)}
        if named:
            proposer = {"name": str(self.config["seller_account_name"]), **proposer}
        parties["proposer"] = proposer
        parties["offer"] = {"id": sub.offer_id}
        return parties

    def _event(self, detail_type: str, agreement_id: str, detail: dict[str, Any]) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": SOURCE,
            "account": self.seller,
            "time": event_time(self.now),
            "region": REGION,
            "resources": [f"arn:aws:aws-marketplace::aws:agreement:{agreement_id}"],
            "detail": detail,
        }
