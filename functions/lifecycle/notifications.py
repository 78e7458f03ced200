"""Marketplace lifecycle notifications, in either shape AWS delivers them through SQS, as one domain event.

EventBridge -> SQS: the body is the event (source ``aws.agreement-marketplace``). SNS -> SQS: the body is the SNS
envelope whose ``Message`` is the legacy JSON. Each names the buyer by what it carries: agreement events by the
agreement id, licence events by the licence id (``l-...``: the documented example drops the ARN's ``arn:`` prefix,
so only the id is compared), legacy messages by product code + customer identifier. Those names are the
``subject`` under which the event's time is kept (see ``functions.lifecycle.store``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, SnsNotificationModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from functions.lifecycle.state import LifecycleKind
from functions.lifecycle.subjects import agreement_subject, legacy_subject, licence_id, licence_subject

MARKETPLACE_SOURCE = "aws.agreement-marketplace"
SUBSCRIPTION_TOPIC_PREFIX = "aws-mp-subscription-notification-"
ENTITLEMENT_TOPIC_PREFIX = "aws-mp-entitlement-notification-"
MARKETPLACE_SNS_ACCOUNT = "287250355862"

# detail-type without its " - Manufacturer" / " - Proposer" suffix
AGREEMENT_CREATED = "Purchase Agreement Created"
AGREEMENT_AMENDED = "Purchase Agreement Amended"
AGREEMENT_ENDED = "Purchase Agreement Ended"
LICENSE_UPDATED = "License Updated"
LICENSE_DEPROVISIONED = "License Deprovisioned"
# what the EventBridge rule matches
DETAIL_TYPES = (
    *(
        f"{name} - {party}"
        for name in (AGREEMENT_CREATED, AGREEMENT_AMENDED, AGREEMENT_ENDED)
        for party in ("Manufacturer", "Proposer")
    ),
    f"{LICENSE_UPDATED} - Manufacturer",
    f"{LICENSE_DEPROVISIONED} - Manufacturer",
)

_EVENTBRIDGE_KINDS = {
    AGREEMENT_CREATED: LifecycleKind.ACTIVATED,
    AGREEMENT_ENDED: LifecycleKind.ENDING,
    LICENSE_UPDATED: LifecycleKind.ACTIVATED,
    LICENSE_DEPROVISIONED: LifecycleKind.ENDING,
}
_SNS_KINDS = {
    "subscribe-success": LifecycleKind.ACTIVATED,
    "subscribe-fail": LifecycleKind.FAILED,
    "unsubscribe-pending": LifecycleKind.ENDING,
    "unsubscribe-success": LifecycleKind.ENDED,
}
ENTITLEMENT_UPDATED = "entitlement-updated"


class MalformedNotification(ValueError):
    """Not a notification we can read: reported as a batch item failure, so it ends in the DLQ after retries."""


@dataclass(frozen=True)
class LifecycleEvent:
    event_id: str  # EventBridge id / SNS MessageId: the idempotency key
    name: str  # detail-type or legacy action, as received
    product_code: str
    product_id: str
    occurred_at: datetime
    kind: LifecycleKind | None  # None: no state change (an amendment, an entitlement update, an unknown name)
    subject: str | None  # where the time is kept; None when kind is None
    account_id: str | None = None  # the buyer (acceptor)
    agreement_id: str | None = None
    licence_id: str | None = None
    customer_identifier: str | None = None
    entitlements_changed: bool = False
    known: bool = True  # False: a detail-type or action we do not handle (logged, acknowledged)


class _Product(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: str = Field(default="", max_length=255)
    id: str = Field(default="", max_length=255)


class _Id(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=255)


class _Account(BaseModel):
    model_config = ConfigDict(extra="ignore")
    accountId: str = Field(pattern=r"^[0-9]{12}$")  # AWS's field name


class _Licence(BaseModel):
    model_config = ConfigDict(extra="ignore")
    arn: str = Field(min_length=3, max_length=2048)


class _AgreementDetail(BaseModel):
    model_config = ConfigDict(extra="ignore")
    agreement: _Id
    product: _Product
    acceptor: _Account | None = None
    license: _Licence | None = None


class _LegacyMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    action: str = Field(min_length=1, max_length=100)
    customer_identifier: str = Field(alias="customer-identifier", min_length=1, max_length=255)
    product_code: str = Field(alias="product-code", min_length=1, max_length=255)


def parse_notification(body: str) -> LifecycleEvent:
    """The domain event in an SQS message body; raises MalformedNotification naming what is wrong."""
    try:
        document = json.loads(body)
    except ValueError:
        raise MalformedNotification("body: is not JSON") from None
    if not isinstance(document, dict):
        raise MalformedNotification("body: is not a JSON object")
    if "detail-type" in document:
        return _from_eventbridge(document)
    if document.get("Type") == "Notification":
        return _from_sns(document)
    raise MalformedNotification("body: neither an EventBridge event nor an SNS notification")


def _problems(error: ValidationError, prefix: str) -> str:
    return "; ".join(f"{prefix}{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())


def _from_eventbridge(document: dict[str, Any]) -> LifecycleEvent:
    try:
        envelope = EventBridgeModel.model_validate(document)
    except ValidationError as error:
        raise MalformedNotification(_problems(error, "")) from None
    occurred_at = envelope.time.astimezone(UTC)
    name = envelope.detail_type.rsplit(" - ", 1)[0]
    detail = envelope.detail if isinstance(envelope.detail, dict) else {}
    if envelope.source != MARKETPLACE_SOURCE or name not in {*_EVENTBRIDGE_KINDS, AGREEMENT_AMENDED}:
        product = detail.get("product")
        product = product if isinstance(product, dict) else {}
        return LifecycleEvent(
            event_id=envelope.id,
            name=envelope.detail_type,
            product_code=str(product.get("code", "")),
            product_id=str(product.get("id", "")),
            occurred_at=occurred_at,
            kind=None,
            subject=None,
            known=False,
        )
    try:
        parsed = _AgreementDetail.model_validate(detail)
    except ValidationError as error:
        raise MalformedNotification(_problems(error, "detail.")) from None
    licence = None
    if name in (LICENSE_UPDATED, LICENSE_DEPROVISIONED):
        licence = licence_id(parsed.license.arn if parsed.license else None)
        if licence is None:
            raise MalformedNotification("detail.license.arn: missing or without a licence id (l-...)")
    kind = _EVENTBRIDGE_KINDS.get(name)
    subject = None
    if kind is not None:
        subject = licence_subject(licence) if licence else agreement_subject(parsed.agreement.id)
    if not (parsed.product.code or parsed.product.id):
        raise MalformedNotification("detail.product: neither code nor id")
    return LifecycleEvent(
        event_id=envelope.id,
        name=envelope.detail_type,
        product_code=parsed.product.code,
        product_id=parsed.product.id,
        occurred_at=occurred_at,
        kind=kind,
        subject=subject,
        account_id=parsed.acceptor.accountId if parsed.acceptor else None,
        agreement_id=parsed.agreement.id,
        licence_id=licence,
        # for contract products these change what the buyer bought (the service decides by product pricing)
        entitlements_changed=name in (LICENSE_UPDATED, AGREEMENT_AMENDED),
    )


def _from_sns(document: dict[str, Any]) -> LifecycleEvent:
    try:
        envelope = SnsNotificationModel.model_validate(document)
        message = _LegacyMessage.model_validate_json(str(envelope.Message))
    except ValidationError as error:
        raise MalformedNotification(_problems(error, "")) from None
    kind = _SNS_KINDS.get(message.action)
    known = kind is not None or message.action == ENTITLEMENT_UPDATED
    return LifecycleEvent(
        event_id=envelope.MessageId,
        name=message.action,
        product_code=message.product_code,
        product_id="",
        occurred_at=envelope.Timestamp.astimezone(UTC),
        kind=kind,
        subject=legacy_subject(message.product_code, message.customer_identifier) if kind else None,
        customer_identifier=message.customer_identifier,
        entitlements_changed=message.action == ENTITLEMENT_UPDATED,
        known=known,
    )
