"""Legacy SNS notifications: the topics, the messages (seller guide "Amazon SNS notifications for SaaS products",
``tests/fixtures/aws/*.txt``) and the Notification envelope an SQS subscriber receives."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from .world import SNS_ACCOUNT, Subscription

SUBSCRIPTION = "subscription"
ENTITLEMENT = "entitlement"


def topic_arn(kind: str, product_code: str) -> str:
    return f"arn:aws:sns:us-east-1:{SNS_ACCOUNT}:aws-mp-{kind}-notification-{product_code}"


def message(kind: str, action: str, sub: Subscription) -> dict[str, Any]:
    """The subscription topic's message has five keys; the entitlement topic's only three (its example has no
    offer or free-trial key). The examples' leading space and trailing comma are typos, not reproduced."""
    body = {"action": action, "customer-identifier": sub.customer_identifier, "product-code": sub.product_code}
    if kind == SUBSCRIPTION:
        body["offer-identifier"] = sub.offer_id
        body["isFreeTrialTermPresent"] = "true" if sub.free_trial else "false"
    return body


def notification(kind: str, action: str, sub: Subscription, now: datetime) -> dict[str, Any]:
    """The envelope SQS receives with raw message delivery off."""
    topic = topic_arn(kind, sub.product_code)
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": json.dumps(message(kind, action, sub)),
        "Timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "SignatureVersion": "1",
        # Not a real signature: nothing in a local run can verify one against AWS's certificate.
        "Signature": "EMULATOR",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-emulator.pem",
        "UnsubscribeURL": f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic}",
    }
