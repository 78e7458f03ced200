"""Marketplace lifecycle notifications, in every shape AWS delivers them through SQS, as one domain event.

EventBridge -> SQS: the body is the event (source ``aws.agreement-marketplace``). SNS -> SQS: the body is the SNS
envelope whose ``Message`` is the legacy JSON, or, with raw message delivery on, that JSON itself. Each names the
buyer by what it carries (AWS's published examples, tests/fixtures/aws): agreement events by the agreement id and
the acceptor's account, with no product and no licence; licence events by the licence id (``l-...``: the documented
example drops the ARN's ``arn:`` prefix, so only the id is compared), with the product and the agreement; legacy
messages by product code + customer identifier. Those names are the ``subject`` under which the event's time is
kept (see ``functions.customers.lifecycle_store``).

The seller's other agreement events (the advisories, the renewal and end reminders, the seller's own cancellation
requests and billing adjustments: the seller guide's examples in tests/fixtures/aws) are read into an
``AgreementNotice`` kept under their agreement; of them only an approved cancellation changes a buyer's state (it
ends the agreement, as its Ended does). Any other detail-type of the source is read as unknown: logged and counted by
the service, never dropped unseen.
"""

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import ConfigDict, Field, HttpUrl, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from functions.customers.notices import AgreementNotice, NoticeKind, notice_key
from functions.customers.subjects import agreement_subject, legacy_subject, licence_id, licence_subject
from functions.customers.subscription import LifecycleKind

MARKETPLACE_SOURCE = "aws.agreement-marketplace"
SUBSCRIPTION_TOPIC_PREFIX = "aws-mp-subscription-notification-"
ENTITLEMENT_TOPIC_PREFIX = "aws-mp-entitlement-notification-"
MARKETPLACE_SNS_ACCOUNT = "287250355862"

# detail-type without its " - Manufacturer" / " - Proposer" suffix
AGREEMENT_CREATED = "Purchase Agreement Created"
AGREEMENT_AMENDED = "Purchase Agreement Amended"
AGREEMENT_ENDED = "Purchase Agreement Ended"
AGREEMENT_ENDING = "Purchase Agreement Ending"  # advance notice of a contract's end date: informational
LICENSE_UPDATED = "License Updated"
LICENSE_DEPROVISIONED = "License Deprovisioned"
ADVISORY_ISSUED = "Purchase Agreement Advisory Issued"  # AWS suspects fraud, abuse or a closed account
ADVISORY_RESOLVED = "Purchase Agreement Advisory Resolved"
RENEWAL_TERMS_FINALIZED = "Purchase Agreement Renewal Terms Finalized"
RENEWAL_UPCOMING = "Purchase Agreement Renewal Upcoming"
CANCELLATION_REQUEST = "Agreement Cancellation Request"  # + its status: the seller's own request (Cancellation API)
CANCELLATION_STATUSES = {
    "Pending Approval": "PENDING_APPROVAL",
    "Approved": "APPROVED",
    "Rejected": "REJECTED",
    "Cancelled": "CANCELLED",
    "Validation Failed": "VALIDATION_FAILED",
}
CANCELLATION_APPROVED = f"{CANCELLATION_REQUEST} Approved"
BILLING_ADJUSTMENT = "Purchase Agreement Billing Adjustment"  # + Completed / Failed: the seller's refund
BILLING_ADJUSTMENT_COMPLETED = f"{BILLING_ADJUSTMENT} Completed"
BILLING_ADJUSTMENT_FAILED = f"{BILLING_ADJUSTMENT} Failed"
# What the EventBridge rules match: every event of the source but licence events (by type alone: agreement events
# name no product), so an event AWS adds is heard, logged and counted; licence events per product. These are the
# types the seller guide lists for a seller (tests/fixtures/aws has an example of each).
AGREEMENT_DETAIL_TYPES = (
    *(
        f"{name} - {party}"
        for name in (AGREEMENT_CREATED, AGREEMENT_AMENDED, AGREEMENT_ENDED)
        for party in ("Manufacturer", "Proposer")
    ),
    f"{AGREEMENT_ENDING} - Proposer",
    f"{ADVISORY_ISSUED} - Manufacturer",
    f"{ADVISORY_RESOLVED} - Manufacturer",
    f"{RENEWAL_TERMS_FINALIZED} - Proposer",
    f"{RENEWAL_UPCOMING} - Proposer",
    *(f"{CANCELLATION_REQUEST} {status} - Proposer" for status in CANCELLATION_STATUSES),
    f"{BILLING_ADJUSTMENT_COMPLETED} - Proposer",
    f"{BILLING_ADJUSTMENT_FAILED} - Proposer",
)
SELLER_PARTIES = ("Proposer", "Manufacturer")  # the seller's roles; an event's type ends in " - <role>"
ACCEPTOR = "Acceptor"  # the buyer's role: sent to the seller's account only for what that account bought
LICENSE_DETAIL_TYPES = (f"{LICENSE_UPDATED} - Manufacturer", f"{LICENSE_DEPROVISIONED} - Manufacturer")
REPLACING_INTENTS = ("RENEW", "REPLACE")

_AGREEMENT_KINDS: dict[str, LifecycleKind | None] = {
    AGREEMENT_CREATED: LifecycleKind.ACTIVATED,
    AGREEMENT_AMENDED: None,
    AGREEMENT_ENDED: LifecycleKind.ENDING,
    AGREEMENT_ENDING: None,
}
# the agreement events that are notices only (Ending above is both: no state change, and a notice)
_AGREEMENT_NOTICES = {
    AGREEMENT_ENDING: NoticeKind.ENDING,
    ADVISORY_ISSUED: NoticeKind.ADVISORY,
    ADVISORY_RESOLVED: NoticeKind.ADVISORY,
    RENEWAL_TERMS_FINALIZED: NoticeKind.RENEWAL_TERMS_FINALIZED,
    RENEWAL_UPCOMING: NoticeKind.RENEWAL_UPCOMING,
}
_LICENCE_KINDS = {LICENSE_UPDATED: LifecycleKind.ACTIVATED, LICENSE_DEPROVISIONED: LifecycleKind.ENDING}
_SNS_KINDS = {
    "subscribe-success": LifecycleKind.ACTIVATED,
    "subscribe-fail": LifecycleKind.FAILED,
    "unsubscribe-pending": LifecycleKind.ENDING,
    "unsubscribe-success": LifecycleKind.ENDED,
}
ENTITLEMENT_UPDATED = "entitlement-updated"
# AWS's published entitlement-updated example ends its object with a comma: read it as meant
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


_Shape = TypeVar("_Shape")
_VALIDATORS: dict[type[Any], TypeAdapter[Any]] = {}  # by shape, each built on its first use


class MalformedNotification(ValueError):
    """Not a notification we can read: reported as a batch item failure, so it ends in the DLQ after retries."""


@dataclass(frozen=True)
class LifecycleEvent:
    """One Marketplace notification, whatever its shape, as the lifecycle reads it."""

    event_id: str  # EventBridge id / SNS MessageId (the SQS message id with raw delivery): the idempotency key
    name: str  # detail-type or legacy action, as received
    occurred_at: datetime
    kind: LifecycleKind | None  # None: no state change (an amendment, an advance notice, an entitlement update)
    subject: str | None  # where the time is kept; None when kind is None
    product_code: str = ""  # licence events and legacy messages; agreement events name no product code
    product_id: str = ""
    account_id: str | None = None  # the buyer (acceptor)
    agreement_id: str | None = None
    licence_id: str | None = None
    previous_agreement_id: str | None = None  # a renewal names the agreement it replaces
    # Purchase Agreement Created's agreement.startTime: a future-dated agreement is created when accepted, starts later
    agreement_starts_at: datetime | None = None
    customer_identifier: str | None = None
    entitlements_changed: bool = False
    known: bool = True  # False: a detail-type or action we do not handle (logged, acknowledged)
    # a legacy message's isFreeTrialTermPresent: whether the subscription has a free-trial term; None: not said
    free_trial_term: bool | None = None
    notice: AgreementNotice | None = None  # what an advisory, reminder, cancellation or refund event says
    # a seller's event of AWS Marketplace's source this code does not know (AWS added it): logged, counted, alarmed
    unfamiliar: bool = False

    @property
    def deprovisions_agreement(self) -> bool:
        """A License Deprovisioned: it names the agreement whose licence it takes away."""
        named = self.licence_id is not None and self.agreement_id is not None
        return named and self.name.rpartition(" - ")[0] == LICENSE_DEPROVISIONED

    @property
    def names_agreement_only(self) -> bool:
        """An agreement event: linked to buyers by agreement id and account, not by product."""
        return self.licence_id is None and self.customer_identifier is None


# The shapes read: typed dicts, validated by pydantic. Declaring one costs a tenth of a BaseModel, whose schema is
# built as its class is; a shape's validator is built on its first use (_validator), so a cold start builds only those
# of the event it reads, not all eighteen. A key with a default is always there once validated; keys not declared are
# ignored (pydantic's default). typing_extensions' TypedDict: pydantic needs it below Python 3.12. This module has no
# ``from __future__ import annotations``: pydantic would evaluate every annotation string on a validator's first use.
class _Product(TypedDict):
    code: Annotated[str, Field(default="", max_length=255)]
    id: Annotated[str, Field(default="", max_length=255)]


_TEXT = 255  # the longest id, code or time text kept from an event
_AMOUNT = r"^-?[0-9]{1,20}(\.[0-9]{1,8})?$"  # a decimal amount as AWS writes it ("-100.00")


class _Agreement(TypedDict):
    id: Annotated[str, Field(min_length=1, max_length=_TEXT)]
    intent: Annotated[str | None, Field(default=None, max_length=64)]
    previousAgreementId: Annotated[str | None, Field(default=None, min_length=1, max_length=_TEXT)]  # AWS's names
    startTime: Annotated[str | None, Field(default=None, max_length=64)]
    endTime: Annotated[str | None, Field(default=None, max_length=64)]
    daysBeforeEndTime: Annotated[int | None, Field(default=None, ge=0, le=100_000)]
    autoRenewalEnabled: Annotated[bool | None, Field(default=None)]


class _RenewalSummary(TypedDict):
    tcv: Annotated[str | None, Field(default=None, pattern=_AMOUNT)]
    currency: Annotated[str | None, Field(default=None, max_length=3)]
    lockoutStartTime: Annotated[str | None, Field(default=None, max_length=64)]
    lockoutReached: Annotated[bool | None, Field(default=None)]


_NO_RENEWAL_SUMMARY = _RenewalSummary(tcv=None, currency=None, lockoutStartTime=None, lockoutReached=None)


class _Advisory(TypedDict):
    issuedAt: Annotated[str | None, Field(default=None, max_length=64)]
    resolvedAt: Annotated[str | None, Field(default=None, max_length=64)]


_NO_ADVISORY = _Advisory(issuedAt=None, resolvedAt=None)


class _Account(TypedDict):
    accountId: Annotated[str, Field(pattern=r"^[0-9]{12}$")]  # AWS's field name


class _Licence(TypedDict):
    arn: Annotated[str, Field(min_length=3, max_length=2048)]


class _AgreementDetail(TypedDict):
    agreement: _Agreement
    acceptor: _Account
    product: Annotated[_Product | None, Field(default=None)]  # only some agreement events carry it, with an id only
    renewalSummary: Annotated[_RenewalSummary | None, Field(default=None)]  # the reminders'
    advisory: Annotated[_Advisory | None, Field(default=None)]  # the advisories'


class _RequestAgreement(TypedDict):
    """A cancellation or billing-adjustment event's agreement: its buyer and product inside it, by id."""

    id: Annotated[str, Field(min_length=1, max_length=_TEXT)]
    acceptorId: Annotated[str | None, Field(default=None, pattern=r"^[0-9]{12}$")]
    productId: Annotated[str | None, Field(default=None, max_length=_TEXT)]


class _CancellationRequest(TypedDict):
    id: Annotated[str, Field(min_length=1, max_length=_TEXT)]
    reasonCode: Annotated[str | None, Field(default=None, max_length=64)]
    statusCode: Annotated[str, Field(min_length=1, max_length=64)]
    statusMessage: Annotated[str | None, Field(default=None, max_length=2000)]


class _CancellationDetail(TypedDict):
    agreement: _RequestAgreement
    agreementCancellationRequest: _CancellationRequest


class _BillingAdjustment(TypedDict):
    id: Annotated[str, Field(min_length=1, max_length=_TEXT)]
    # a channel partner's refund, as its manufacturer hears of it, carries no amount (seller guide, "Refunds")
    adjustmentAmount: Annotated[str | None, Field(default=None, pattern=_AMOUNT)]
    currencyCode: Annotated[str | None, Field(default=None, max_length=3)]
    adjustmentReasonCode: Annotated[str | None, Field(default=None, max_length=64)]


class _Invoice(TypedDict):
    originalInvoiceId: Annotated[str | None, Field(default=None, max_length=1024)]


class _AdjustmentDetail(TypedDict):
    agreement: _RequestAgreement
    billingAdjustmentRequest: _BillingAdjustment
    invoice: Annotated[_Invoice | None, Field(default=None)]


class _LicenceDetail(TypedDict):
    agreement: _Agreement
    acceptor: _Account
    product: _Product
    license: _Licence


# The two envelopes, as Powertools' parser models read them (EventBridgeModel, SnsNotificationModel: the same fields,
# required where they require them), written here because importing any of those models imports all of Powertools'
# event models, a third of this handler's cold start.
@with_config(ConfigDict(populate_by_name=True))
class _EventBridgeEnvelope(TypedDict):
    version: str
    id: str
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str]
    detail_type: Annotated[str, Field(alias="detail-type")]
    detail: dict[str, Any]
    replay_name: Annotated[str | None, Field(default=None, alias="replay-name")]


class _SnsAttribute(TypedDict):
    Type: str
    Value: str


class _SnsEnvelope(TypedDict):
    Subject: Annotated[str | None, Field(default=None)]
    TopicArn: str
    UnsubscribeUrl: HttpUrl
    Type: Literal["Notification"]
    MessageAttributes: Annotated[dict[str, _SnsAttribute] | None, Field(default=None)]
    Message: str
    MessageId: str
    SigningCertUrl: Annotated[HttpUrl | None, Field(default=None)]
    Signature: Annotated[str | None, Field(default=None)]
    Timestamp: datetime
    SignatureVersion: Annotated[str | None, Field(default=None)]


def _sqs_spelling(document: dict[str, Any]) -> dict[str, Any]:
    """The SNS envelope as SNS spells it: delivering to SQS, it spells two of its fields ...URL."""
    if any(key in document for key in ("UnsubscribeURL", "SigningCertURL")):
        document = dict(document)
        document["UnsubscribeUrl"] = document.pop("UnsubscribeURL", None)
        document["SigningCertUrl"] = document.pop("SigningCertURL", None)
    return document


@with_config(ConfigDict(populate_by_name=True))
class _LegacyMessage(TypedDict):
    action: Annotated[str, Field(min_length=1, max_length=100)]
    customer_identifier: Annotated[str, Field(alias="customer-identifier", min_length=1, max_length=255)]
    product_code: Annotated[str, Field(alias="product-code", min_length=1, max_length=255)]
    # AWS sends the text "true" or "false" (seller guide examples); the entitlement topic's messages have none. Any
    # other value says nothing rather than failing the message: the subscription itself is still news.
    free_trial_term: Annotated[object, Field(default=None, alias="isFreeTrialTermPresent")]


def parse_notification(body: str, *, message_id: str, sent_at: datetime) -> LifecycleEvent:
    """The domain event in an SQS message body; raises MalformedNotification naming what is wrong.

    ``message_id`` and ``sent_at`` are the SQS message's: what names and dates a bare SNS message (raw delivery).
    """
    document = _json_object(body)
    if "detail-type" in document:
        return _from_eventbridge(document)
    if document.get("Type") == "Notification":
        return _from_sns(document)
    if "action" in document:
        return _legacy_event(document, event_id=message_id, occurred_at=sent_at)
    raise MalformedNotification("body: neither an EventBridge event nor an SNS notification")


def _json_object(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except RecursionError:
        raise MalformedNotification("body: nested too deeply") from None
    except ValueError:
        try:
            document = json.loads(_TRAILING_COMMA.sub(r"\1", text))
        except (ValueError, RecursionError):
            raise MalformedNotification("body: is not JSON") from None
    if not isinstance(document, dict):
        raise MalformedNotification("body: is not a JSON object")
    return document


def _validated(shape: type[_Shape], document: dict[str, Any], prefix: str) -> _Shape:
    """``document`` as ``shape``, or MalformedNotification naming each field at fault (under ``prefix``)."""
    try:
        return _validator(shape).validate_python(document)
    except ValidationError as error:
        problems = (f"{prefix}{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        raise MalformedNotification("; ".join(problems)) from None


def _validator(shape: type[_Shape]) -> TypeAdapter[_Shape]:
    """The shape's validator, built on its first use: a Lambda container sees one or two kinds of event, so a cold
    start builds only theirs."""
    validator: TypeAdapter[_Shape] | None = _VALIDATORS.get(shape)
    if validator is None:
        validator = _VALIDATORS[shape] = TypeAdapter(shape)
    return validator


def _from_eventbridge(document: dict[str, Any]) -> LifecycleEvent:
    envelope = _validated(_EventBridgeEnvelope, document, "")
    occurred_at = envelope["time"].astimezone(UTC)
    name, separator, party = envelope["detail_type"].rpartition(" - ")
    if not separator:
        name, party = envelope["detail_type"], ""
    detail = envelope["detail"] if isinstance(envelope["detail"], dict) else {}
    known = party in SELLER_PARTIES and (
        name in {*_AGREEMENT_KINDS, *_LICENCE_KINDS, *_AGREEMENT_NOTICES} or _request_event(name)
    )
    if envelope["source"] != MARKETPLACE_SOURCE or not known:
        # an Acceptor's event is the seller's account buying something itself: not a buyer of ours, nothing new
        unfamiliar = envelope["source"] == MARKETPLACE_SOURCE and party != ACCEPTOR
        return LifecycleEvent(
            envelope["id"],
            envelope["detail_type"],
            occurred_at,
            kind=None,
            subject=None,
            known=False,
            unfamiliar=unfamiliar,
        )
    if name in _LICENCE_KINDS:
        return _licence_event(envelope["id"], envelope["detail_type"], occurred_at, _LICENCE_KINDS[name], detail)
    if name.startswith(CANCELLATION_REQUEST):
        return _cancellation_event(envelope["id"], envelope["detail_type"], occurred_at, name, detail)
    if name.startswith(BILLING_ADJUSTMENT):
        return _adjustment_event(envelope["id"], envelope["detail_type"], occurred_at, name, detail)
    parsed = _validated(_AgreementDetail, detail, "detail.")
    kind = _AGREEMENT_KINDS.get(name)
    agreement = parsed["agreement"]
    # AWS's renewal example says RENEW; the Agreement Service's model knows NEW, AMEND and REPLACE: either takes the
    # place of the agreement it names
    renewal = name == AGREEMENT_CREATED and agreement["intent"] in REPLACING_INTENTS
    return LifecycleEvent(
        event_id=envelope["id"],
        name=envelope["detail_type"],
        occurred_at=occurred_at,
        kind=kind,
        subject=agreement_subject(agreement["id"]) if kind else None,
        product_id=parsed["product"]["id"] if parsed["product"] else "",
        account_id=parsed["acceptor"]["accountId"],
        agreement_id=agreement["id"],
        previous_agreement_id=agreement["previousAgreementId"] if renewal else None,
        agreement_starts_at=_instant(agreement["startTime"]) if name == AGREEMENT_CREATED else None,
        # for contract products an amendment changes what the buyer bought (the service decides by product pricing)
        entitlements_changed=name == AGREEMENT_AMENDED,
        notice=_agreement_notice(name, parsed, occurred_at),
    )


def _instant(text: str | None) -> datetime | None:
    """An ISO 8601 time of AWS's (``2024-08-30T21:36:03Z``) in UTC; None where there is none, or one we cannot read
    (then the event's own time stands for it: a start is no reason to refuse the event that activates a buyer)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None
    if moment is None or moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


def _request_event(name: str) -> bool:
    """A cancellation request's or a billing adjustment's event, by its status in the name."""
    if name.startswith(f"{CANCELLATION_REQUEST} "):
        return name[len(CANCELLATION_REQUEST) + 1 :] in CANCELLATION_STATUSES
    return name in (BILLING_ADJUSTMENT_COMPLETED, BILLING_ADJUSTMENT_FAILED)


def _texts(**values: object) -> dict[str, str]:
    """The details worth keeping, as text; what the event does not say is left out."""
    kept = {name: value for name, value in values.items() if value is not None}
    return {name: str(value).lower() if isinstance(value, bool) else str(value) for name, value in kept.items()}


def _agreement_notice(name: str, parsed: _AgreementDetail, at: datetime) -> AgreementNotice | None:
    agreement, summary = parsed["agreement"], parsed["renewalSummary"] or _NO_RENEWAL_SUMMARY
    if name in (ADVISORY_ISSUED, ADVISORY_RESOLVED):
        advisory = parsed["advisory"] or _NO_ADVISORY
        issued = name == ADVISORY_ISSUED
        details = _texts(issued_at=advisory["issuedAt"]) if issued else _texts(resolved_at=advisory["resolvedAt"])
        status = "ISSUED" if issued else "RESOLVED"
        return AgreementNotice(
            agreement["id"], NoticeKind.ADVISORY, notice_key(NoticeKind.ADVISORY), status, at, details
        )
    if name not in _AGREEMENT_NOTICES:
        return None
    kind = _AGREEMENT_NOTICES[name]
    details = _texts(
        end_time=agreement["endTime"],
        days_before_end=agreement["daysBeforeEndTime"],
        auto_renewal=agreement["autoRenewalEnabled"],
        tcv=summary["tcv"],
        currency=summary["currency"],
        lockout_start_time=summary["lockoutStartTime"],
        lockout_reached=summary["lockoutReached"],
    )
    status = {
        NoticeKind.ENDING: f"{agreement['daysBeforeEndTime']} DAYS"
        if agreement["daysBeforeEndTime"] is not None
        else "DUE",
        NoticeKind.RENEWAL_TERMS_FINALIZED: "FINALIZED",
        NoticeKind.RENEWAL_UPCOMING: "UPCOMING",
    }[kind]
    return AgreementNotice(agreement["id"], kind, notice_key(kind), status, at, details)


def _cancellation_event(
    event_id: str, detail_type: str, occurred_at: datetime, name: str, detail: dict[str, Any]
) -> LifecycleEvent:
    parsed = _validated(_CancellationDetail, detail, "detail.")
    request, agreement = parsed["agreementCancellationRequest"], parsed["agreement"]
    status = CANCELLATION_STATUSES[name[len(CANCELLATION_REQUEST) + 1 :]]
    # AWS's own words on why validation failed; any other status message is the buyer's, and may be personal data
    message = request["statusMessage"] if status == "VALIDATION_FAILED" and request["statusMessage"] else None
    kind = NoticeKind.CANCELLATION_REQUEST
    notice = AgreementNotice(
        agreement["id"],
        kind,
        notice_key(kind, request["id"]),
        status,
        occurred_at,
        _texts(request_id=request["id"], reason_code=request["reasonCode"], status_message=message),
    )
    # an approved cancellation cancels the agreement (seller guide, "Refunds and cancellations"): it ends as an Ended
    # of it would end it, and the buyer's final usage is sent as for any other end
    ends = name == CANCELLATION_APPROVED
    return _request_notice_event(event_id, detail_type, occurred_at, agreement, notice, ends=ends)


def _adjustment_event(
    event_id: str, detail_type: str, occurred_at: datetime, name: str, detail: dict[str, Any]
) -> LifecycleEvent:
    parsed = _validated(_AdjustmentDetail, detail, "detail.")
    adjustment, agreement = parsed["billingAdjustmentRequest"], parsed["agreement"]
    kind = NoticeKind.BILLING_ADJUSTMENT
    notice = AgreementNotice(
        agreement["id"],
        kind,
        notice_key(kind, adjustment["id"]),
        "COMPLETED" if name == BILLING_ADJUSTMENT_COMPLETED else "FAILED",
        occurred_at,
        _texts(
            request_id=adjustment["id"],
            amount=adjustment["adjustmentAmount"],
            currency=adjustment["currencyCode"],
            reason_code=adjustment["adjustmentReasonCode"],
            invoice_id=parsed["invoice"]["originalInvoiceId"] if parsed["invoice"] else None,
        ),
    )
    # it names no buyer: it is kept under its agreement, where the operator's views find it
    return _request_notice_event(event_id, detail_type, occurred_at, agreement, notice, ends=False)


def _request_notice_event(
    event_id: str,
    detail_type: str,
    occurred_at: datetime,
    agreement: _RequestAgreement,
    notice: AgreementNotice,
    *,
    ends: bool,
) -> LifecycleEvent:
    """A cancellation request's or billing adjustment's event: its notice, kept under its agreement; ``ends``: it
    ends the agreement as an Ended would."""
    return LifecycleEvent(
        event_id=event_id,
        name=detail_type,
        occurred_at=occurred_at,
        kind=LifecycleKind.ENDING if ends else None,
        subject=agreement_subject(agreement["id"]) if ends else None,
        product_id=agreement["productId"] or "",
        account_id=agreement["acceptorId"],
        agreement_id=agreement["id"],
        notice=notice,
    )


def _licence_event(
    event_id: str, name: str, occurred_at: datetime, kind: LifecycleKind, detail: dict[str, Any]
) -> LifecycleEvent:
    parsed = _validated(_LicenceDetail, detail, "detail.")
    licence = licence_id(parsed["license"]["arn"])
    if licence is None:
        raise MalformedNotification("detail.license.arn: without a licence id (l-...)")
    if not (parsed["product"]["code"] or parsed["product"]["id"]):
        raise MalformedNotification("detail.product: neither code nor id")
    return LifecycleEvent(
        event_id=event_id,
        name=name,
        occurred_at=occurred_at,
        kind=kind,
        subject=licence_subject(licence),
        product_code=parsed["product"]["code"],
        product_id=parsed["product"]["id"],
        account_id=parsed["acceptor"]["accountId"],
        agreement_id=parsed["agreement"]["id"],
        licence_id=licence,
        entitlements_changed=kind is LifecycleKind.ACTIVATED,
    )


def _from_sns(document: dict[str, Any]) -> LifecycleEvent:
    envelope = _validated(_SnsEnvelope, _sqs_spelling(document), "")
    message = _json_object(str(envelope["Message"]))
    return _legacy_event(message, event_id=envelope["MessageId"], occurred_at=envelope["Timestamp"].astimezone(UTC))


def _legacy_event(message: dict[str, Any], *, event_id: str, occurred_at: datetime) -> LifecycleEvent:
    parsed = _validated(_LegacyMessage, message, "Message.")
    kind = _SNS_KINDS.get(parsed["action"])
    # identifiers are alphanumeric; AWS's published examples carry a stray leading space
    identifier = parsed["customer_identifier"].strip()
    return LifecycleEvent(
        event_id=event_id,
        name=parsed["action"],
        occurred_at=occurred_at,
        kind=kind,
        subject=legacy_subject(parsed["product_code"], identifier) if kind else None,
        product_code=parsed["product_code"],
        customer_identifier=identifier,
        entitlements_changed=parsed["action"] == ENTITLEMENT_UPDATED,
        known=kind is not None or parsed["action"] == ENTITLEMENT_UPDATED,
        free_trial_term=_flag(parsed["free_trial_term"]),
    )


def _flag(value: object) -> bool | None:
    """The flag as AWS writes it, the text "true" or "false" (or a JSON boolean); None for anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    return None
