"""A buyer's whole life through the real handlers: notifications as the emulator emits them, wrapped in SQS records
as AWS delivers them (EventBridge -> SQS: the event; SNS -> SQS: the envelope), DynamoDB Local, and the emulator's
ledger as the proof of what was billed."""

from __future__ import annotations

import hashlib
import json
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from functions.clock import SystemClock
from functions.customers.model import Customer, CustomerRef, SubscriptionState
from functions.customers.repository import DynamoCustomerRepository
from functions.handlers import lifecycle, registration
from functions.lifecycle.service import CUSTOMER_ACTIVATED, CUSTOMER_ENDED
from functions.lifecycle.wiring import lifecycle_worker
from functions.registration.events import RecordingPublisher
from functions.registration.wiring import wiring
from functions.settings import Settings
from functions.usage.ingest import IngestResult, UsageRejected, record_usage
from functions.usage.model import HOUR, hour_key, hour_of
from functions.usage.wiring import usage_store
from local.apigateway import LambdaContext, proxy_event
from local.marketplace.testing import EmulatorHandle

LICENSE_PRODUCT = "lifelicence1"
LEGACY_PRODUCT = "lifelegacy1"
BUYER = "111122223333"


def sqs_event(bodies: list[dict[str, Any] | str]) -> dict[str, Any]:
    """An SQS event as Lambda receives it, one record per message body (a dict is sent as its JSON)."""
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
                    "SentTimestamp": "1764150000000",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1764150000001",
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(text.encode()).hexdigest(),  # noqa: S324 (what SQS sends)
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:lifecycle",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


@dataclass
class Life:
    settings: Settings
    marketplace: EmulatorHandle
    dynamodb: Any
    seen: int = 0

    @property
    def customers(self) -> DynamoCustomerRepository:
        return DynamoCustomerRepository(self.dynamodb, self.settings.customers_table)

    def deliver(self, channel: str) -> dict[str, Any]:
        """Hand the emulator's new notifications of ``channel`` to the lifecycle handler, in one SQS batch."""
        notifications = self.marketplace.admin.notifications(after=self.seen)
        if notifications:
            self.seen = notifications[-1]["seq"]
        bodies = [n["body"] for n in notifications if n["channel"] == channel]
        response: dict[str, Any] = lifecycle.handler(sqs_event(bodies), LambdaContext(function_name="lifecycle"))
        return response

    def register(self, token: str) -> None:
        body = urllib.parse.urlencode({"x-amzn-marketplace-token": token}).encode()
        event = proxy_event(
            "POST", "/register", "/register", headers={"Content-Type": ["application/x-www-form-urlencoded"]}, body=body
        )
        response = registration.handler(event, LambdaContext(function_name="registration"))
        assert response["statusCode"] == 200, response["body"]

    def use(self, customer: Customer, quantity: int, event_id: str) -> IngestResult:
        naming: dict[str, Any] = (
            {"customer_identifier": customer.ref.customer_identifier}
            if customer.ref.customer_identifier
            else {"license_arn": customer.ref.license_arn, "customer_aws_account_id": customer.customer_aws_account_id}
        )
        event = {
            "event_id": event_id,
            "product_code": customer.ref.product_code,
            "dimension": "api_calls",
            "quantity": quantity,
            **naming,
        }
        return record_usage(
            [event],
            settings=self.settings,
            customers=self.customers,
            store=usage_store(self.settings),
            clock=SystemClock(),
        )

    def published(self) -> list[str]:
        publisher = lifecycle_worker(self.settings).lifecycle.publisher
        assert isinstance(publisher, RecordingPublisher)
        return [e.detail_type for e in publisher.events]

    def stored_usage(self, event_id: str) -> dict[str, Any]:
        scanned: list[dict[str, Any]] = self.dynamodb.scan(TableName=self.settings.usage_table)["Items"]
        items = [i for i in scanned if i["sk"]["S"] == event_id]
        assert len(items) == 1
        return items[0]


@pytest.fixture
def life(marketplace: EmulatorHandle, dynamodb: Any, handler_environment: Callable[..., Settings]) -> Life:
    marketplace.admin.create_product(LICENSE_PRODUCT, ["api_calls"], fulfillment_url="http://127.0.0.1:9/register")
    marketplace.admin.create_product(
        LEGACY_PRODUCT, ["api_calls"], customer_mode="legacy", fulfillment_url="http://127.0.0.1:9/register"
    )
    products = [
        {"code": LICENSE_PRODUCT, "name": "Licence product", "dimensions": [{"name": "api_calls"}]},
        {
            "code": LEGACY_PRODUCT,
            "name": "Legacy product",
            "customer_mode": "legacy",
            "legacy_sns": True,
            "dimensions": [{"name": "api_calls"}],
        },
    ]
    settings = handler_environment(
        products,
        SIGNING_SECRET="lifecycle-test-secret",
        USAGE_SHARDS="2",
        # no in-flight usage writes in a test: the final step may run right after the cutoff
        FINAL_USAGE_DELAY_SECONDS="0",
    )
    return Life(settings=settings, marketplace=marketplace, dynamodb=dynamodb)


def billed(life: Life, customer: str) -> int:
    return sum(
        int(r["quantity"])
        for r in life.marketplace.admin.ledger()
        if customer in (r.get("license_arn"), r.get("customer_identifier"))
    )


def test_licence_buyer_eventbridge_events_before_registration_final_usage_billed_before_the_end(life: Life) -> None:
    admin = life.marketplace.admin
    # Given a confirmed subscription whose events arrive before the buyer registers
    subscription = admin.subscribe(LICENSE_PRODUCT, BUYER)
    assert life.deliver("eventbridge") == {"batchItemFailures": []}
    life.register(subscription["registration_token"])
    ref = CustomerRef(LICENSE_PRODUCT, license_arn=subscription["license_arn"])
    customer = life.customers.get(ref)
    assert customer is not None
    assert customer.state is SubscriptionState.ACTIVE
    # And usage recorded while active
    assert life.use(customer, 7, "use-1").accepted == ("use-1",)
    assert life.use(customer, 5, "use-2").accepted == ("use-2",)
    assert billed(life, subscription["license_arn"]) == 0  # the hour is still open: nothing sent yet

    # When the buyer unsubscribes
    admin.unsubscribe(subscription["agreement_id"])
    assert life.deliver("eventbridge") == {"batchItemFailures": []}

    # Then the open hour's usage is billed at once, before the subscription is final
    ending = life.customers.get(ref)
    assert ending is not None
    assert ending.state is SubscriptionState.ENDING
    assert ending.final_usage_cutoff
    assert admin.get_subscription(subscription["agreement_id"])["status"] != "ended"
    assert billed(life, subscription["license_arn"]) == 12
    # and usage arriving after the cutoff goes to the next hour, never to the one already sent
    assert life.use(ending, 3, "use-3").accepted == ("use-3",)
    assert life.stored_usage("use-3")["b"]["S"] == hour_key(hour_of(ending.final_usage_cutoff) + HOUR)

    # When the subscription is final
    admin.finalize(subscription["agreement_id"])
    assert life.deliver("eventbridge") == {"batchItemFailures": []}

    # Then usage is refused with the reason, and the seller's systems heard of both changes
    ended = life.customers.get(ref)
    assert ended is not None
    assert ended.state is SubscriptionState.ENDED
    with pytest.raises(UsageRejected) as refused:
        life.use(ended, 1, "use-4")
    assert refused.value.errors[0].field == "events[0].license_arn"
    assert "subscription ended" in refused.value.errors[0].message
    # (it was activated before it registered: registration announced both, "Customer Registered" in state active)
    registered = wiring(life.settings).registrations.publisher
    assert isinstance(registered, RecordingPublisher)
    assert [e.detail_type for e in registered.events] == ["Customer Registered", CUSTOMER_ACTIVATED]
    assert [e.detail["state"] for e in registered.events if e.detail_type == "Customer Registered"] == ["active"]
    assert life.published() == [CUSTOMER_ENDED]
    publisher = lifecycle_worker(life.settings).lifecycle.publisher
    assert isinstance(publisher, RecordingPublisher)
    (ended_event,) = publisher.events
    assert (ended_event.detail["state"], ended_event.detail["license_arn"]) == ("ended", subscription["license_arn"])
    assert billed(life, subscription["license_arn"]) == 12  # nothing sent twice


def test_legacy_buyer_sns_envelopes_final_usage_billed_before_unsubscribe_success(life: Life) -> None:
    admin = life.marketplace.admin
    # Given a buyer who registers before the subscription is confirmed
    subscription = admin.subscribe(LEGACY_PRODUCT, BUYER, confirm=False)
    life.register(subscription["registration_token"])
    ref = CustomerRef(LEGACY_PRODUCT, customer_identifier=subscription["customer_identifier"])
    pending = life.customers.get(ref)
    assert pending is not None
    assert pending.state is SubscriptionState.PENDING
    with pytest.raises(UsageRejected, match="not confirmed yet"):
        life.use(pending, 1, "early")
    # When subscribe-success arrives (its SNS envelope, twice: SNS delivers at least once)
    admin.confirm(subscription["agreement_id"])
    life.seen, before = life.seen, life.seen
    assert life.deliver("sns") == {"batchItemFailures": []}
    life.seen = before
    assert life.deliver("sns") == {"batchItemFailures": []}
    active = life.customers.get(ref)
    assert active is not None
    assert active.state is SubscriptionState.ACTIVE
    assert life.use(active, 4, "legacy-1").accepted == ("legacy-1",)

    # When unsubscribe-pending arrives
    admin.unsubscribe(subscription["agreement_id"])
    assert life.deliver("sns") == {"batchItemFailures": []}
    # Then the final usage is in the ledger before unsubscribe-success
    assert billed(life, subscription["customer_identifier"]) == 4
    admin.finalize(subscription["agreement_id"])
    assert life.deliver("sns") == {"batchItemFailures": []}
    ended = life.customers.get(ref)
    assert ended is not None
    assert ended.state is SubscriptionState.ENDED
    with pytest.raises(UsageRejected, match="subscription ended"):
        life.use(ended, 1, "late")
    assert life.published().count(CUSTOMER_ACTIVATED) == 1
    assert life.published()[-1] == CUSTOMER_ENDED
