"""AWS's own published examples of what AWS Marketplace sends a SaaS seller (``tests/fixtures/aws``, copied verbatim:
SOURCES.md there names each source), and the only changes a test may make to them: ids, accounts and times.

Substitution works on the published text itself, value for value, so every key, nesting, type and published typo
(the SNS examples' leading space and trailing comma) reaches the code under test as AWS wrote it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parent / "fixtures" / "aws"
EVENTBRIDGE_EXAMPLES = tuple(sorted(p.name for p in CORPUS.glob("*.json")))
SNS_EXAMPLES = tuple(sorted(p.name for p in CORPUS.glob("*.txt")))

# The values AWS's examples use, as published.
SELLER_PLACEHOLDERS = (
    "<ISV's account id>",
    "<ISV or CP's account id>",
    "<ISV's or CP's account id>",
    "<ISV/CP account id>",
)
EXAMPLE_AGREEMENT = "agmt-4mwg1nevbokzw95eca5797ixs"
EXAMPLE_RENEWAL = "agmt-newrenewalagreementid"
EXAMPLE_ACCEPTOR = "845735284135"
EXAMPLE_PROPOSER = "123456512334"
EXAMPLE_LICENCE = "l-e52ca6f38bf84d0fafb8802ca15ac11x"
EXAMPLE_LICENCE_PRODUCT_CODE = "aw4fgf5tyo5w2ap6fEXAMPLE"
EXAMPLE_PRODUCT_IDS = ("prod-qtwveEXAMPLE", "prod-aw4fgf5tyo5w2ap6fEXAMPLE", "prod-exampleid")
EXAMPLE_TIME = "2024-08-30T21:36:03Z"
EXAMPLE_EVENT_ID = "12345678-1234-1234-1234-123456789012"
# the cancellation and billing-adjustment examples' own values (the guide's section for them uses other ones)
EXAMPLE_REQUEST_AGREEMENT = "agmt-abcdexampleid"
EXAMPLE_REQUEST_ACCEPTOR = "123465789012"  # sic: the guide's acceptorId, not its seller account 123456789012
EXAMPLE_CANCELLATION_REQUEST = "acr-abcdexampleid"
EXAMPLE_BILLING_ADJUSTMENT = "ba-abcdexampleid"
EXAMPLE_INVOICE = "2028746221"
EXAMPLE_ADVISORY_SELLER = "987654321098"  # the advisory examples' seller (account and proposer)
EXAMPLE_SNS_CUSTOMER = "X01EXAMPLEX"
EXAMPLE_SNS_PRODUCT_CODE = "n0123EXAMPLEXXXXXXXXXXXX"

AGREEMENT_EXAMPLES = tuple(n for n in EVENTBRIDGE_EXAMPLES if not n.startswith("license_"))
LICENCE_EXAMPLES = tuple(n for n in EVENTBRIDGE_EXAMPLES if n.startswith("license_"))


def example_text(name: str) -> str:
    return (CORPUS / name).read_text(encoding="utf-8")


def _time_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Parties:
    """Who an example is about; each field replaces the published example value it is named after."""

    seller_account: str = "123456789012"
    buyer_account: str = EXAMPLE_ACCEPTOR
    proposer_account: str | None = None  # the seller unless a channel partner proposed the offer
    agreement_id: str = EXAMPLE_AGREEMENT
    renewal_agreement_id: str = EXAMPLE_RENEWAL
    licence_id: str = EXAMPLE_LICENCE
    product_code: str = EXAMPLE_LICENCE_PRODUCT_CODE
    product_id: str | None = None  # keep the published one unless given
    cancellation_request_id: str = EXAMPLE_CANCELLATION_REQUEST
    billing_adjustment_id: str = EXAMPLE_BILLING_ADJUSTMENT
    invoice_id: str = EXAMPLE_INVOICE

    def with_(self, **changes: Any) -> Parties:
        return Parties(**{**self.__dict__, **changes})


def eventbridge_example(name: str, parties: Parties | None = None, *, at: datetime | None = None) -> dict[str, Any]:
    """One EventBridge example with ids, accounts and the event time substituted; a fresh event id."""
    parties = parties or Parties()
    text = example_text(name)
    for placeholder in SELLER_PLACEHOLDERS:
        text = text.replace(json.dumps(placeholder), json.dumps(parties.seller_account))
    replacements = {
        EXAMPLE_RENEWAL: parties.renewal_agreement_id,
        EXAMPLE_AGREEMENT: parties.agreement_id,
        EXAMPLE_REQUEST_AGREEMENT: parties.agreement_id,
        EXAMPLE_ACCEPTOR: parties.buyer_account,
        EXAMPLE_REQUEST_ACCEPTOR: parties.buyer_account,
        EXAMPLE_PROPOSER: parties.proposer_account or parties.seller_account,
        EXAMPLE_ADVISORY_SELLER: parties.proposer_account or parties.seller_account,
        EXAMPLE_CANCELLATION_REQUEST: parties.cancellation_request_id,
        EXAMPLE_BILLING_ADJUSTMENT: parties.billing_adjustment_id,
        EXAMPLE_INVOICE: parties.invoice_id,
        EXAMPLE_LICENCE: parties.licence_id,
        EXAMPLE_LICENCE_PRODUCT_CODE: parties.product_code,
    }
    if parties.product_id is not None:
        replacements.update(dict.fromkeys(EXAMPLE_PRODUCT_IDS, parties.product_id))
    for published, ours in replacements.items():
        text = text.replace(published, ours)
    event: dict[str, Any] = json.loads(text)
    # every example's account is the seller's (a placeholder in most, a real-looking one in the newer ones)
    event["account"] = parties.seller_account
    event["id"] = str(uuid.uuid4())  # a fresh one: handlers take an event id once
    if at is not None:
        event["time"] = _time_text(at)
    return event


def sns_message(name: str, *, customer_identifier: str, product_code: str) -> str:
    """One legacy SNS message, as published (leading space, trailing comma and all) with ids substituted."""
    text = example_text(name)
    return text.replace(EXAMPLE_SNS_CUSTOMER, customer_identifier).replace(EXAMPLE_SNS_PRODUCT_CODE, product_code)


def sns_topic(name: str, product_code: str) -> str:
    kind = "entitlement" if name.startswith("entitlement_") else "subscription"
    return f"arn:aws:sns:us-east-1:287250355862:aws-mp-{kind}-notification-{product_code}"


def sns_envelope(message: str, topic_arn: str, *, at: datetime | None = None) -> dict[str, Any]:
    """The SNS envelope SQS receives with raw message delivery off: the fields of the Powertools for AWS Lambda
    (Python) test event ``snsSqsEvent.json`` (SOURCES.md), with this message."""
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic_arn,
        "Message": message,
        "Timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
        "UnsubscribeURL": f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic_arn}:1",
    }


def sqs_event(bodies: list[dict[str, Any] | str], *, sent_at: datetime | None = None) -> dict[str, Any]:
    """An SQS event as Lambda receives it, one record per message body (a dict is sent as its JSON)."""
    sent = str(int((sent_at or datetime.now(UTC)).timestamp() * 1000))
    records = []
    for body in bodies:
        text = body if isinstance(body, str) else json.dumps(body)
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": uuid.uuid4().hex,
                "body": text,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": sent,
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": sent,
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(text.encode()).hexdigest(),  # noqa: S324 (what SQS sends)
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:lifecycle",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def shape(value: Any) -> Any:
    """Keys, nesting and types of a JSON value, without its values: what "the same shape as AWS's" compares."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return type(value).__name__
